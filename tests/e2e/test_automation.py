"""Automation by conditions through the real daemon of `make dev`.

Two models of the starter get SQLMesh's most frequent cron (every five
minutes), the others keep theirs (daily). With SQLMESH_AUTOMATION=conditions
and the sensor turned on, the next five-minute tick must request exactly those
two and the Dagster asset one of them reads, in one run that performs one
SQLMesh execution; nothing else is requested, by that evaluation or the next.

The tick is real time. So that the test does not wait for a tick it could not
choose, the five-minute cron is offset to tick at the first whole minute far
enough ahead for the project to be built and served first (``*/5`` shifted by
a few minutes, still every five minutes for SQLMesh); a slow machine that
misses it gets the next tick, five minutes later, within the deadline.
"""

import time
from datetime import UTC, datetime, timedelta

import pytest
from helpers.dagster_dev import free_port, graphql, serving
from helpers.environments import edit
from helpers.project import probe

pytestmark = pytest.mark.e2e

SENSOR = "sqlmesh_automation_sensor"
DUE = {"marts/daily_revenue", "marts/revenue_vs_target"}
READ_BY_DUE = {"landing/revenue_targets"}
# Building the project once, serving it and the sensor's first evaluation take about a minute.
LEAD = timedelta(seconds=90)
START_SENSOR = """
mutation ($selector: SensorSelector!) {
  startSensor(sensorSelector: $selector) {
    __typename
    ... on Sensor { sensorState { status } }
    ... on PythonError { message }
  }
}
"""
SENSOR_RUNS = """
query ($filter: RunsFilter) {
  runsOrError(filter: $filter) {
    ... on Runs { results { runId status endTime assetSelection { path } tags { key value } } }
  }
}
"""
SENSOR_TICKS = """
query ($selector: SensorSelector!) {
  sensorOrError(sensorSelector: $selector) {
    ... on Sensor { sensorState { ticks(limit: 20) { timestamp status runIds } } }
  }
}
"""
FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}
EVALUATED = {"SUCCESS", "SKIPPED"}


def five_minute_cron_ticking_at(moment: datetime) -> str:
    """Every five minutes, with a tick at ``moment`` (a whole minute)."""
    return f"{moment.minute % 5}-59/5 * * * *"


@pytest.fixture
def scratch(starter_project, tmp_path):
    scratch = starter_project.scratch(tmp_path, copy_sqlmesh_project=True)
    scratch.extra_env["SQLMESH_AUTOMATION"] = "conditions"
    return scratch


def test_the_daemon_requests_the_due_models_together_in_one_run_and_one_execution(scratch):
    ahead = datetime.now(UTC) + LEAD
    tick = ahead.replace(second=0, microsecond=0) + timedelta(minutes=1)
    cron = five_minute_cron_ticking_at(tick)
    for model in ("daily_revenue", "revenue_vs_target"):
        path = scratch.sqlmesh_project / "models" / "marts" / f"{model}.sql"
        edit(path, "  kind FULL,", f"  kind FULL,\n  cron '{cron}',")
    scratch.materialize()  # every unpartitioned asset built once, as `make run` does
    port = free_port()
    with serving(["make", "dev"], scratch.project.root, {**scratch.env(), "PORT": str(port)}, port, 120):
        selector = {
            "repositoryLocationName": scratch.project.package,
            "repositoryName": "__repository__",
            "sensorName": SENSOR,
        }
        started = graphql(port, START_SENSOR, {"selector": selector})["startSensor"]
        assert started["__typename"] == "Sensor", started
        sensor_runs = {"tags": [{"key": "dagster/sensor_name", "value": SENSOR}]}
        # The tick (or, missed, the next one), the sensor's 30 s, the run.
        deadline = time.monotonic() + max(0.0, (tick - datetime.now(UTC)).total_seconds()) + 420
        while True:
            runs = graphql(port, SENSOR_RUNS, {"filter": sensor_runs})["runsOrError"]["results"]
            if runs and all(run["status"] in FINISHED for run in runs):
                break
            assert time.monotonic() < deadline, f"no run of the sensor finished in time: {runs}"
            time.sleep(2)
        # One more evaluation of the sensor after the run: the tick is handled, nothing more is requested.
        finished = max(run["endTime"] for run in runs)
        deadline = time.monotonic() + 120
        while True:
            ticks = graphql(port, SENSOR_TICKS, {"selector": selector})["sensorOrError"]
            ticks = ticks["sensorState"]["ticks"]
            if any(t["timestamp"] > finished and t["status"] in EVALUATED for t in ticks):
                break
            assert time.monotonic() < deadline, f"the sensor did not evaluate again after the run: {ticks}"
            time.sleep(2)
        runs = graphql(port, SENSOR_RUNS, {"filter": sensor_runs})["runsOrError"]["results"]

    (run,) = runs
    assert {"/".join(key["path"]) for key in run["assetSelection"]} == DUE | READ_BY_DUE
    assert run["status"] == "SUCCESS"
    summary = probe(scratch.project.root, scratch.project.package, scratch.env(), "--summarize", run["runId"])
    assert summary["executions"] == 1
    assert {tag["key"]: tag["value"] for tag in run["tags"]}["sqlmesh/mode"] == "run"
    assert set(summary["materialized"]) == DUE | READ_BY_DUE
    assert {name.removeprefix("warehouse.") for name in summary["evaluated"]} == {
        key.replace("/", ".") for key in DUE
    }
