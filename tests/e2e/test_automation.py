"""Automation by conditions through the real daemon of `make dev`.

Two models of the starter get SQLMesh's most frequent cron (every five
minutes), the others keep theirs (daily). With SQLMESH_AUTOMATION=conditions
and the sensor turned on, the next five-minute tick must request exactly those
two and the Dagster asset one of them reads, in one run that performs one
SQLMesh execution; nothing else is requested. The tick is real time: the test
waits for it (five minutes at most).
"""

import time

import pytest
from helpers.dagster_dev import free_port, graphql, serving
from helpers.environments import edit
from helpers.project import probe

SENSOR = "sqlmesh_automation_sensor"
DUE = {"marts/daily_revenue", "marts/revenue_vs_target"}
READ_BY_DUE = {"landing/revenue_targets"}
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
    ... on Runs { results { runId status assetSelection { path } tags { key value } } }
  }
}
"""
FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}


@pytest.fixture
def scratch(starter_project, tmp_path):
    scratch = starter_project.scratch(tmp_path, copy_sqlmesh_project=True)
    for model in ("daily_revenue", "revenue_vs_target"):
        path = scratch.sqlmesh_project / "models" / "marts" / f"{model}.sql"
        edit(path, "  kind FULL,", "  kind FULL,\n  cron '*/5 * * * *',")
    scratch.extra_env["SQLMESH_AUTOMATION"] = "conditions"
    return scratch


def test_the_daemon_requests_the_due_models_together_in_one_run_and_one_execution(scratch):
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
        deadline = time.monotonic() + 480  # the next five-minute tick, the sensor's 30 s, the run
        while True:
            runs = graphql(port, SENSOR_RUNS, {"filter": sensor_runs})["runsOrError"]["results"]
            if runs and all(run["status"] in FINISHED for run in runs):
                break
            assert time.monotonic() < deadline, f"no run of the sensor finished within 480 s: {runs}"
            time.sleep(5)
        time.sleep(40)  # one more evaluation of the sensor: the tick is handled, nothing more is requested
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
