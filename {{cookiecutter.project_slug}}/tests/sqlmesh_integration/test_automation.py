"""Automation: one schedule, or a condition per model from its cron, evaluated over a simulated clock.

The conditions are evaluated with Dagster's own evaluator at chosen times; the
requested models are then run for real (SQLMesh on DuckDB), so failures are
Dagster's record of real runs.
"""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from dagster import (
    AssetExecutionContext,
    AssetKey,
    DagsterInstance,
    DefaultSensorStatus,
    Definitions,
    asset,
    evaluate_automation_conditions,
)
from small_projects import write_duckdb_config

from {{ cookiecutter.package_name }}.sqlmesh_integration import (
    MODE_TAG,
    SQLMeshResource,
    SQLMeshRunResults,
    sqlmesh_assets,
    sqlmesh_automation,
    with_upstream_conditions,
)

MODELS = {
    "events": "MODEL (name staging.events, kind FULL, cron '@hourly');\nSELECT id FROM landing.events\n",
    "daily_events": "MODEL (name marts.daily_events, kind FULL, cron '@daily');\n"
    "SELECT COUNT(*) AS n FROM staging.events\n",
    "targets_report": "MODEL (name marts.targets_report, kind FULL, cron '@daily');\n"
    "SELECT target FROM landing.targets\n",
    "hourly_targets": "MODEL (name marts.hourly_targets, kind FULL, cron '@hourly');\n"
    "SELECT target FROM marts.targets_report\n",
}
DAYS = (
    "MODEL (name staging.days, kind INCREMENTAL_BY_TIME_RANGE (time_column day), cron '@daily', "
    "tags [dagster_partitioned]);\nSELECT CAST(@start_ds AS DATE) AS day\n"
)
EXTERNAL = (
    "- name: landing.events\n  columns:\n    id: int\n- name: landing.targets\n  columns:\n    target: int\n"
)
EVENTS, DAILY, REPORT = "staging/events", "marts/daily_events", "marts/targets_report"
TARGETS, HOURLY = "landing/targets", "marts/hourly_targets"
EVERY_MODEL = {EVENTS, DAILY, REPORT, TARGETS, HOURLY}
START = datetime(2025, 3, 10, 10, 30, tzinfo=UTC)


class Clock:
    """Definitions of a SQLMesh project, their conditions evaluated at times the test picks."""

    def __init__(self, root: Path, automation: str = "conditions", models: dict[str, str] = MODELS) -> None:
        self.warehouse = root / "warehouse.duckdb"
        project = root / "sqlmesh_project"
        (project / "models").mkdir(parents=True)
        write_duckdb_config(project, self.warehouse, start="2025-03-09")
        (project / "external_models.yaml").write_text(EXTERNAL)
        for name, text in models.items():
            (project / "models" / f"{name}.sql").write_text(text)
        warehouse = self.warehouse

        @asset(key=["landing", "targets"])
        def targets(context: AssetExecutionContext) -> None:
            """A Dagster asset writing a table a model reads."""
            with duckdb.connect(str(warehouse)) as connection:
                connection.execute("CREATE SCHEMA IF NOT EXISTS landing")
                connection.execute("CREATE OR REPLACE TABLE landing.targets AS SELECT 100 AS target")

        sqlmesh = SQLMeshResource(project_dir=str(project))
        self.automation = sqlmesh_automation(sqlmesh, sqlmesh_assets(sqlmesh), automation)
        models = Definitions(
            assets=self.automation.assets,
            schedules=self.automation.schedules,
            sensors=self.automation.sensors,
            resources={"sqlmesh": sqlmesh, "sqlmesh_results": SQLMeshRunResults()},
        )
        self.defs = Definitions.merge(models, Definitions(assets=with_upstream_conditions([targets], models)))
        self.instance = DagsterInstance.ephemeral()
        self.cursor, self.last = None, None
        assert self.requested(START) == set()  # a first evaluation only starts the clock

    def requested(self, at: datetime) -> set[str]:
        """The assets requested by an evaluation at ``at``."""
        result = evaluate_automation_conditions(
            defs=self.defs, instance=self.instance, cursor=self.cursor, evaluation_time=at
        )
        self.cursor, self.last = result.cursor, result
        return {key.to_user_string() for key in self._keys() if result.get_num_requested(key)}

    def run(self, keys: set[str]) -> dict[str, bool]:
        """Run ``keys`` as the sensor's run would (SQLMesh's run semantics); which were materialized."""
        job = self.defs.resolve_implicit_global_asset_job_def()
        result = job.execute_in_process(
            instance=self.instance,
            asset_selection=[AssetKey.from_user_string(key) for key in keys],
            tags={MODE_TAG: "run"},
            raise_on_error=False,
        )
        done = {event.asset_key.to_user_string() for event in result.get_asset_materialization_events()}
        return {key: key in done for key in keys}

    def _keys(self) -> list[AssetKey]:
        return list(self.defs.resolve_asset_graph().materializable_asset_keys)


def test_schedule_mode_is_the_run_schedule_and_no_condition(tmp_path):
    clock = Clock(tmp_path, automation="schedule")
    graph = clock.defs.resolve_asset_graph()

    assert [schedule.name for schedule in clock.automation.schedules] == ["sqlmesh_run_schedule"]
    assert clock.automation.sensors == []
    assert all(graph.get(key).automation_condition is None for key in graph.materializable_asset_keys)
    # Nothing is evaluated on a tick: no default automation sensor appears either.
    assert [sensor.name for sensor in clock.defs.get_repository_def().sensor_defs] == []


def test_conditions_mode_is_one_stopped_sensor_over_every_model_and_the_ingestion(tmp_path):
    clock = Clock(tmp_path)
    (sensor,) = clock.defs.get_repository_def().sensor_defs  # no default_automation_condition_sensor beside

    assert sensor.name == "sqlmesh_automation_sensor"
    assert sensor.default_status == DefaultSensorStatus.STOPPED
    assert sensor.run_tags == {MODE_TAG: "run"}
    assert clock.automation.schedules == []
    graph = clock.defs.resolve_asset_graph()
    assert {key.to_user_string() for key in sensor.asset_selection.resolve(graph)} == EVERY_MODEL


def test_due_models_are_requested_together_and_the_others_not(tmp_path):
    clock = Clock(tmp_path)

    # 11:00: the hourly models only, as SQLMesh's run would evaluate them: one reads a table no
    # run materializes, the other a daily model that has not changed since (neither is waited for).
    assert clock.requested(START + timedelta(minutes=30, seconds=30)) == {EVENTS, HOURLY}
    assert clock.requested(START + timedelta(minutes=31)) == set()  # that tick is handled
    # Midnight: every model is due, the ingestion on its readers' cron, in one request.
    assert clock.requested(datetime(2025, 3, 11, 0, 0, 30, tzinfo=UTC)) == EVERY_MODEL


def test_a_partitioned_model_is_requested_for_the_day_that_just_ended(tmp_path):
    clock = Clock(tmp_path, models={**MODELS, "days": DAYS})

    assert "staging/days" in clock.requested(datetime(2025, 3, 11, 0, 0, 30, tzinfo=UTC))
    assert clock.last.get_requested_partitions(AssetKey(["staging", "days"])) == {"2025-03-10"}


def test_an_upstream_failure_holds_the_model_below_until_it_is_fixed(tmp_path):
    clock = Clock(tmp_path)  # landing.events does not exist yet: staging.events fails

    first = clock.requested(datetime(2025, 3, 11, 0, 0, 30, tzinfo=UTC))
    assert first == EVERY_MODEL
    assert clock.run(first) == {EVENTS: False, DAILY: False, REPORT: True, TARGETS: True, HOURLY: True}
    assert clock.requested(datetime(2025, 3, 11, 0, 1, tzinfo=UTC)) == set()  # the sensor's next tick
    assert clock.requested(datetime(2025, 3, 11, 1, 0, 30, tzinfo=UTC)) == {EVENTS, HOURLY}
    assert clock.run({EVENTS, HOURLY}) == {EVENTS: False, HOURLY: True}
    assert clock.requested(datetime(2025, 3, 11, 1, 1, tzinfo=UTC)) == set()

    # The next midnight: the daily model is due, but what it reads failed: it is not requested.
    second = clock.requested(datetime(2025, 3, 12, 0, 0, 30, tzinfo=UTC))
    assert second == {EVENTS, REPORT, TARGETS, HOURLY}
    with duckdb.connect(str(clock.warehouse)) as connection:  # the fix: the source table appears
        connection.execute("CREATE TABLE landing.events AS SELECT 1 AS id UNION ALL SELECT 2")
    assert clock.run(second) == {EVENTS: True, REPORT: True, TARGETS: True, HOURLY: True}

    # Fixed: the daily model catches up on its own, alone, once.
    assert clock.requested(datetime(2025, 3, 12, 0, 1, tzinfo=UTC)) == {DAILY}
    assert clock.run({DAILY}) == {DAILY: True}
    assert clock.requested(datetime(2025, 3, 12, 0, 2, tzinfo=UTC)) == set()
    with duckdb.connect(str(clock.warehouse), read_only=True) as connection:
        assert connection.sql("SELECT n FROM marts.daily_events").fetchall() == [(2,)]


def test_a_bad_setting_names_the_value_and_the_choices(tmp_path):
    expected = r"SQLMESH_AUTOMATION is 'cron'; it must be 'schedule' or 'conditions'"
    with pytest.raises(ValueError, match=expected):
        Clock(tmp_path, automation="cron")
