"""SQLMesh intervals as Dagster time partitions, from real SQLMesh models."""

from datetime import UTC, datetime, time, timedelta

import pytest
from dagster import TimeWindowPartitionsDefinition
from sqlmesh.core.dialect import parse
from sqlmesh.core.model import Model, load_sql_based_model
from sqlmesh.core.node import IntervalUnit

from {{ cookiecutter.package_name }}.sqlmesh_integration import PartitioningError, SQLMeshTranslator
from {{ cookiecutter.package_name }}.sqlmesh_integration.vocabulary.partitions import (
    TimeRange,
    filled_partition_keys,
    grid_starts,
)


def model(
    name: str, kind: str, *, tags: str = "", start: str | None = "2025-01-01", cron: str = "@daily"
) -> Model:
    header = [f"name {name}", f"kind {kind}", f"cron '{cron}'"]
    if tags:
        header.append(f"tags [{tags}]")
    if start:
        header.append(f"start '{start}'")
    sql = f"MODEL ({', '.join(header)}); SELECT CAST('2025-01-01' AS DATE) AS day, 1 AS n"
    return load_sql_based_model(
        parse(sql, default_dialect="duckdb"), dialect="duckdb", default_catalog="warehouse"
    )


BY_DAY = "INCREMENTAL_BY_TIME_RANGE (time_column day)"


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def test_only_models_that_ask_are_partitioned():
    translator = SQLMeshTranslator()
    assert translator.get_partitions_def(model("a.tagged", BY_DAY, tags="dagster_partitioned")) is not None
    assert translator.get_partitions_def(model("a.untagged", BY_DAY)) is None
    assert translator.get_partitions_def(model("a.full", "FULL")) is None


def test_a_project_default_partitions_every_time_range_model_but_those_that_opt_out():
    class PartitionEverything(SQLMeshTranslator):
        partition_by_default = True

    translator = PartitionEverything()
    assert translator.get_partitions_def(model("a.untagged", BY_DAY)) is not None
    assert translator.get_partitions_def(model("a.opted_out", BY_DAY, tags="dagster_unpartitioned")) is None
    assert translator.get_partitions_def(model("a.full", "FULL")) is None


def test_one_partition_is_one_interval_of_the_models_unit_in_utc_from_its_start():
    daily = SQLMeshTranslator().get_partitions_def(model("a.daily", BY_DAY, tags="dagster_partitioned"))
    hourly = SQLMeshTranslator().get_partitions_def(
        model("a.hourly", BY_DAY, tags="dagster_partitioned", cron="@hourly")
    )

    assert isinstance(daily, TimeWindowPartitionsDefinition)
    assert (daily.cron_schedule, daily.timezone, daily.start) == ("0 0 * * *", "UTC", utc(2025, 1, 1))
    assert daily.get_first_partition_key() == "2025-01-01"
    assert hourly.cron_schedule == "0 * * * *"
    assert hourly.get_first_partition_key() == "2025-01-01-00:00"


def test_models_with_the_same_unit_and_start_share_one_definition():
    translator = SQLMeshTranslator()
    first = translator.get_partitions_def(model("a.first", BY_DAY, tags="dagster_partitioned"))
    second = translator.get_partitions_def(model("a.second", BY_DAY, tags="dagster_partitioned"))
    assert first == second


def test_a_tag_on_a_model_that_cannot_be_partitioned_names_it_and_says_what_to_do():
    with pytest.raises(
        PartitioningError, match=r"a\.full has the tag 'dagster_partitioned'.*its kind is FULL"
    ):
        SQLMeshTranslator().get_partitions_def(model("a.full", "FULL", tags="dagster_partitioned"))


def test_a_partitioned_model_without_a_start_says_where_to_set_one():
    with pytest.raises(
        PartitioningError, match=r"a\.nostart is partitioned but has no start date.*Set `start`"
    ):
        SQLMeshTranslator().get_partitions_def(
            model("a.nostart", BY_DAY, tags="dagster_partitioned", start=None)
        )


def test_a_partition_is_filled_only_when_sqlmesh_holds_its_whole_interval():
    daily = SQLMeshTranslator().get_partitions_def(model("a.daily", BY_DAY, tags="dagster_partitioned"))
    millis = lambda moment: int(moment.timestamp() * 1000)  # noqa: E731
    intervals = [
        (millis(utc(2025, 1, 1)), millis(utc(2025, 1, 3))),  # the 1st and 2nd
        (millis(utc(2025, 1, 4, 12)), millis(utc(2025, 1, 6))),  # half the 4th, the 5th
    ]
    within = TimeRange(utc(2025, 1, 2), utc(2025, 1, 6))

    assert filled_partition_keys(daily, intervals, within) == ["2025-01-02", "2025-01-05"]


def test_the_grid_of_a_unit_starts_at_the_earliest_fixed_start_and_a_relative_one_never_places_it():
    models = [
        model("a.default", BY_DAY, start="2025-01-01"),
        model("a.earlier", BY_DAY, start="2024-12-15"),
        model("a.relative", BY_DAY, start="1 week ago"),
        model("a.hourly", BY_DAY, start="2025-02-01 06:00:00", cron="@hourly"),
    ]

    assert grid_starts(models, "2025-01-01", lambda m: True) == {
        IntervalUnit.DAY: utc(2024, 12, 15),
        IntervalUnit.HOUR: utc(2025, 1, 1),
    }
    assert grid_starts(models, None, lambda m: m.name != "a.earlier")[IntervalUnit.HOUR] == utc(2025, 2, 1, 6)
    before = datetime.now(UTC)
    only_relative = grid_starts([models[2]], "2 weeks ago", lambda m: True)[IntervalUnit.DAY]
    after = datetime.now(UTC)
    # Every start relative: the earliest of them ('2 weeks ago', not '1 week ago') as of now, from
    # the start of its day in UTC (two candidates only if the call ran over midnight).
    two_weeks_ago = {
        datetime.combine(now.date() - timedelta(weeks=2), time(), UTC) for now in (before, after)
    }
    assert only_relative in two_weeks_ago
