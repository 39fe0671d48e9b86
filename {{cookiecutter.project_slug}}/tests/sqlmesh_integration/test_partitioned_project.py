"""A project with partitioned models: its schedules, its report job, loadable definitions."""

from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
from dagster import AssetKey, DagsterInstance, Definitions, build_schedule_context
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from small_projects import write_duckdb_config

from {{ cookiecutter.package_name }}.sqlmesh_integration import (
    SQLMeshResource,
    SQLMeshRunResults,
    sqlmesh_assets,
    sqlmesh_interval_report_jobs,
    sqlmesh_schedules,
)

DAILY = (
    "MODEL (name staging.{name}, kind INCREMENTAL_BY_TIME_RANGE (time_column day), cron '@daily'{tags});\n"
)
QUERY = "SELECT CAST(@start_ds AS DATE) AS day, 1 AS n\n"
# A row for each day of the interval evaluated: the table says which days were.
EACH_DAY = (
    "SELECT CAST(d AS DATE) AS day, 1 AS n "
    "FROM generate_series(CAST(@start_ds AS DATE), CAST(@end_ds AS DATE), INTERVAL 1 DAY) AS days(d)\n"
)


@pytest.fixture
def definitions(tmp_path: Path) -> Definitions:
    """Two daily partitioned models, a daily one left unpartitioned, and a FULL model over them."""
    project = tmp_path / "sqlmesh_project"
    (project / "models").mkdir(parents=True)
    write_duckdb_config(project, tmp_path / "warehouse.duckdb", start="2025-01-01")
    for name, tags in [("first", ", tags [dagster_partitioned]"), ("second", ", tags [dagster_partitioned]")]:
        (project / "models" / f"{name}.sql").write_text(DAILY.format(name=name, tags=tags) + QUERY)
    (project / "models" / "plain.sql").write_text(DAILY.format(name="plain", tags="") + QUERY)
    (project / "models" / "total.sql").write_text(
        "MODEL (name marts.total, kind FULL, cron '@hourly');\nSELECT SUM(n) AS n FROM staging.first\n"
    )
    sqlmesh = SQLMeshResource(project_dir=str(project))
    assets = sqlmesh_assets(sqlmesh)
    return Definitions(
        assets=assets,
        schedules=sqlmesh_schedules(sqlmesh, assets),
        jobs=sqlmesh_interval_report_jobs(assets),
        resources={"sqlmesh": sqlmesh, "sqlmesh_results": SQLMeshRunResults()},
    )


def test_partitioned_models_share_one_daily_definition_the_others_have_none(definitions):
    graph = definitions.resolve_asset_graph()
    partitions = {
        key.to_user_string(): graph.get(key).partitions_def for key in graph.materializable_asset_keys
    }

    assert partitions["staging/first"] == partitions["staging/second"]
    assert partitions["staging/first"].get_first_partition_key() == "2025-01-01"
    assert partitions["staging/plain"] is None and partitions["marts/total"] is None


def test_the_run_schedule_leaves_partitioned_models_to_their_own_schedule(definitions):
    run_job = definitions.resolve_job_def("sqlmesh_run")
    run_schedule = definitions.resolve_schedule_def("sqlmesh_run_schedule")
    (name,) = [s.name for s in definitions.schedules if s.name != "sqlmesh_run_schedule"]
    assert name == "sqlmesh_run_by_day_schedule"  # one start for the days: the unit alone names it
    daily_schedule = definitions.resolve_schedule_def(name)
    daily_job = definitions.resolve_job_def(daily_schedule.job_name)

    assert run_job.asset_layer.selected_asset_keys == {
        AssetKey(["staging", "plain"]),
        AssetKey(["marts", "total"]),
    }
    assert run_schedule.cron_schedule == "@hourly"  # the most frequent cron of the unpartitioned models
    assert daily_job.asset_layer.selected_asset_keys == {
        AssetKey(["staging", "first"]),
        AssetKey(["staging", "second"]),
    }
    # At midnight UTC the day that just ended is requested, and that day alone.
    context = build_schedule_context(
        scheduled_execution_time=datetime(2025, 3, 10, tzinfo=UTC),
        repository_def=definitions.get_repository_def(),
    )
    (request,) = daily_schedule.evaluate_tick(context).run_requests
    assert request.partition_key == "2025-03-09"
    # Before the first day has ended, there is nothing to request.
    first_midnight = build_schedule_context(
        scheduled_execution_time=datetime(2025, 1, 1, tzinfo=UTC),
        repository_def=definitions.get_repository_def(),
    )
    assert daily_schedule.evaluate_tick(first_midnight).skip_message.startswith("No day is complete yet")


def test_the_report_job_exists_and_the_definitions_load(definitions):
    assert definitions.resolve_job_def("sqlmesh_report_intervals").description.startswith("Record in Dagster")
    Definitions.validate_loadable(definitions)


def test_a_partitioned_asset_in_a_run_without_partitions_fails_saying_how_to_pick_them(definitions):
    job = definitions.resolve_implicit_global_asset_job_def().get_subset(
        asset_selection={AssetKey(["staging", "first"])}
    )

    instance = DagsterInstance.ephemeral()
    result = job.execute_in_process(instance=instance, raise_on_error=False)

    (failure,) = result.get_step_failure_events()
    message = failure.event_specific_data.error.message
    assert "staging/first is partitioned" in message and "this run names no partition" in message
    assert "make run SELECT=staging/first PARTITION=first...last" in message
    # Refused before SQLMesh was asked for anything.
    logs = [record.user_message for record in instance.all_logs(result.run_id)]
    assert not [line for line in logs if line.startswith("SQLMesh execution for run")]


def test_models_starting_on_different_dates_share_one_grid_per_unit_and_nothing_before_a_start_fails(
    tmp_path: Path,
):
    project = tmp_path / "sqlmesh_project"
    (project / "models").mkdir(parents=True)
    write_duckdb_config(project, tmp_path / "warehouse.duckdb", start="2025-01-01")
    starts = {"early": "", "late": ", start '2025-01-05'", "recent": ", start '1 week ago'"}
    for name, start in starts.items():
        header = DAILY.format(name=name, tags=", tags [dagster_partitioned]" + start)
        (project / "models" / f"{name}.sql").write_text(header + EACH_DAY)
    hourly = DAILY.replace("'@daily'", "'@hourly'").format(name="hourly", tags=", tags [dagster_partitioned]")
    (project / "models" / "hourly.sql").write_text(hourly + QUERY)
    sqlmesh = SQLMeshResource(project_dir=str(project))
    definitions = Definitions(
        assets=sqlmesh_assets(sqlmesh), resources={"sqlmesh": sqlmesh, "sqlmesh_results": SQLMeshRunResults()}
    )
    graph = definitions.resolve_asset_graph()
    grids = {key.path[-1]: graph.get(key).partitions_def for key in graph.materializable_asset_keys}

    assert grids["early"] == grids["late"] == grids["recent"]  # a start of its own does not move the grid
    assert grids["early"].get_first_partition_key() == "2025-01-01"
    assert grids["hourly"].get_first_partition_key() == "2025-01-01-00:00"

    job = definitions.resolve_implicit_global_asset_job_def().get_subset(
        asset_selection={AssetKey(["staging", "early"]), AssetKey(["staging", "late"])}
    )
    days = {ASSET_PARTITION_RANGE_START_TAG: "2025-01-03", ASSET_PARTITION_RANGE_END_TAG: "2025-01-06"}
    result = job.execute_in_process(instance=DagsterInstance.ephemeral(), tags=days)

    assert result.success
    by_asset: dict[str, list] = {}
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        by_asset.setdefault(materialization.asset_key.path[-1], []).append(materialization)
    assert sorted(m.partition for m in by_asset["late"]) == [
        "2025-01-03",
        "2025-01-04",
        "2025-01-05",
        "2025-01-06",
    ]
    notes = [m.metadata["sqlmesh/nothing_to_fill"].value for m in by_asset["late"]]
    assert (
        notes
        == [
            {
                "partitions": ["2025-01-03", "2025-01-04"],
                "model_starts": "2025-01-05T00:00:00+00:00",
                "model_ends": None,
            }
        ]
        * 4
    )
    assert all("sqlmesh/nothing_to_fill" not in m.metadata for m in by_asset["early"])
    # What SQLMesh wrote: each day of the range once, and of late's only those from its start on.
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as warehouse:
        written = {
            name: warehouse.sql(
                f"SELECT CAST(day AS TEXT), COUNT(*) FROM staging.{name} GROUP BY day ORDER BY day"
            ).fetchall()
            for name in ("early", "late")
        }
    assert written == {
        "early": [("2025-01-03", 1), ("2025-01-04", 1), ("2025-01-05", 1), ("2025-01-06", 1)],
        "late": [("2025-01-05", 1), ("2025-01-06", 1)],
    }
