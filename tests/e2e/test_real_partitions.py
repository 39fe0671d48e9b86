"""Partitions on a SQLMesh project shaped like a real one: models starting on different dates.

See ``helpers/real_partitioned_project.py`` for its shape. Every assertion
about what was evaluated reads SQLMesh's own state
(``in_project/filled_intervals.py``), not Dagster's. Hours on PostgreSQL's state
are test_postgres'.
"""

import json
from datetime import datetime, timedelta

import pytest
from helpers.project import IN_PROJECT, Scratch, probe, run
from helpers.real_partitioned_project import (
    DAILY,
    HOURLY,
    UNPARTITIONED,
    assert_backfilled_exactly,
    backfill_everything,
    day,
    filled,
    midnight,
    use_real_partitioned_project,
)

pytestmark = pytest.mark.e2e


def range_tags(first: int, last: int) -> dict[str, str]:
    """A run for the days ``first`` to ``last`` days ago, as a single-run backfill tags it."""
    return {"dagster/asset_partition_range_start": day(first), "dagster/asset_partition_range_end": day(last)}


def days_in(intervals: list[list[str]]) -> list[str]:
    """The days (partition keys) SQLMesh's filled intervals cover."""
    found = []
    for start, end in intervals:
        moment, stop = datetime.fromisoformat(start), datetime.fromisoformat(end)
        while moment < stop:
            found.append(moment.date().isoformat())
            moment += timedelta(days=1)
    return found


@pytest.fixture
def scratch(starter_project, tmp_path) -> Scratch:
    scratch = starter_project.scratch(tmp_path)
    use_real_partitioned_project(scratch)
    return scratch


def test_one_command_fills_exactly_a_range_of_every_daily_model_whatever_its_start(scratch):
    assert scratch.materialize(select=["raw/events"])["status"] == "SUCCESS"

    # Every daily model in one run, though each starts on another date: one grid per unit.
    # Dagster runs one partitions definition per command: the hourly model takes a command of its own.
    selection = "tag:dagster_partitioned and not tag:hourly"
    command = ["make", "run", f"SELECT={selection}", f"PARTITION={day(12)}...{day(3)}"]
    run(command, scratch.project.root, scratch.env())

    result = probe(scratch.project.root, scratch.project.package, scratch.env(), "--summarize", "latest")
    assert result["status"] == "SUCCESS", result
    assert result["executions"] == 1
    requested = [day(n) for n in range(12, 2, -1)]
    assert result["partitions"] == {key: requested for key in DAILY}
    state = filled(scratch)
    end = midnight(2)
    assert state["staging.events_daily"] == [[midnight(12), end]]
    assert state["staging.events_py"] == [[midnight(12), end]]
    assert state["staging.events_late"] == [[midnight(10), end]]  # before its start: nothing to fill
    assert state["staging.events_recent"] == [[midnight(5), end]]  # '5 days ago'
    assert "staging.events_hourly" not in state  # not selected: not even planned

    # The unpartitioned model below them reads what they hold; its run fills no day of theirs.
    run(["make", "run"], scratch.project.root, scratch.env())
    below = probe(scratch.project.root, scratch.project.package, scratch.env(), "--summarize", "latest")
    assert below["status"] == "SUCCESS", below
    assert set(UNPARTITIONED) <= set(below["materialized"])  # with the sample's ingestion asset
    assert filled(scratch)["staging.events_daily"] == [[midnight(12), end]]
    assert scratch.query("SELECT days FROM marts.daily_summary") == [[10]]


def test_a_backfill_of_every_asset_from_the_ui_completes_and_fills_exactly_its_days(scratch):
    """As the UI's Materialize all launches it: days and hours of the same three days, and the rest."""
    backfill, runs = backfill_everything(scratch, first=4, last=2)

    assert_backfilled_exactly(scratch, backfill, runs, first=4, last=2)


def test_the_interval_report_records_what_sqlmesh_filled_outside_dagster_whatever_the_start(scratch):
    """`sqlmesh run` fills every due interval outside Dagster; the report job records exactly those."""
    assert scratch.materialize(select=["raw/events"])["status"] == "SUCCESS"
    filled_by_dagster = scratch.materialize(select=DAILY, tags=range_tags(6, 4))
    assert filled_by_dagster["status"] == "SUCCESS"
    bare = [
        str(scratch.project.python),
        str(IN_PROJECT / "bare_sqlmesh.py"),
        str(scratch.sqlmesh_project),
        "run",
    ]
    assert json.loads(run(bare, scratch.project.root, scratch.env()).stdout)["failed"] is False

    report = scratch.materialize(job="sqlmesh_report_intervals")

    assert report["status"] == "SUCCESS"
    assert report["executions"] == 0 and report["evaluated"] == {}
    state = filled(scratch)
    for key in DAILY:
        in_state = days_in(state[key.replace("/", ".")])
        assert report["partitions"][key] == sorted(
            set(in_state) - set(filled_by_dagster["partitions"][key])
        ), key
    # `sqlmesh run` runs what the environment has: the hourly model was never deployed, so none.
    assert HOURLY.replace("/", ".") not in state and HOURLY not in report["partitions"]
    assert scratch.materialize(job="sqlmesh_report_intervals")["partitions"] == {}  # reported once
