"""Terminating a run from the UI stops SQLMesh too: nothing goes on writing after the run ended.

A private copy of the starter's SQLMesh project gets one slow Python model,
which writes the PID of the process evaluating it and then sleeps. The run
is launched and terminated through a served `make dev` and GraphQL, as the
UI's Materialize and Terminate buttons do, under both executors.
"""

import os
import time
from pathlib import Path

import pytest
from helpers.dagster_dev import LAUNCH, free_port, graphql, serving

pytestmark = pytest.mark.e2e

SLOW_MODEL = """
import os
import time
from pathlib import Path

import pandas as pd
from sqlmesh import ExecutionContext, model


@model("staging.slow_model", kind="FULL", columns={"id": "int"})
def execute(context: ExecutionContext, **kwargs) -> pd.DataFrame:
    marker = os.environ.get("SLOW_MODEL_MARKER")
    if marker:
        Path(marker).write_text(str(os.getpid()))
        time.sleep(float(os.environ["SLOW_MODEL_SECONDS"]))
    return pd.DataFrame({"id": [1]})
"""

TERMINATE = """
mutation Terminate($runId: String!) {
  terminateRun(runId: $runId) {
    __typename
    ... on TerminateRunFailure { message }
    ... on PythonError { message }
  }
}
"""
STATUS = "query Status($runId: ID!) { runOrError(runId: $runId) { ... on Run { status } } }"


def alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie awaiting its parent's wait counts as ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.5)
    return value


@pytest.mark.parametrize("executor", ["in_process", "multiprocess"])
def test_terminate_stops_the_sqlmesh_execution_and_the_next_run_works(starter_project, tmp_path, executor):
    scratch = starter_project.scratch(tmp_path, executor, copy_sqlmesh_project=True)
    (scratch.sqlmesh_project / "models" / "staging" / "slow_model.py").write_text(SLOW_MODEL)
    marker = tmp_path / "slow_model.pid"
    port = free_port()
    env = {
        **scratch.env(),
        "PORT": str(port),
        "SLOW_MODEL_MARKER": str(marker),
        "SLOW_MODEL_SECONDS": "600",
    }
    with serving(["make", "dev"], starter_project.root, env, port, timeout=120):
        params = {
            "selector": {
                "repositoryLocationName": "shop_analytics",
                "repositoryName": "__repository__",
                "jobName": "__ASSET_JOB",
                "assetSelection": [{"path": ["staging", "slow_model"]}],
            },
            "runConfigData": {},
        }
        reply = graphql(port, LAUNCH, {"params": params})["launchRun"]
        assert reply["__typename"] == "LaunchRunSuccess", reply
        run_id = reply["run"]["runId"]
        evaluating = int(wait_for(lambda: marker.exists() and marker.read_text(), 180, "model started"))
        assert alive(evaluating)

        terminated = graphql(port, TERMINATE, {"runId": run_id})["terminateRun"]
        assert terminated["__typename"] == "TerminateRunSuccess", terminated
        wait_for(
            lambda: graphql(port, STATUS, {"runId": run_id})["runOrError"]["status"] == "CANCELED",
            60,
            "run CANCELED",
        )
        # The process that was evaluating the model is gone, not orphaned.
        wait_for(lambda: not alive(evaluating), 15, f"SQLMesh process {evaluating} stopped")
        # And the warehouse is free while the UI still runs.
        assert scratch.query("SELECT 1") == [[1]]

    # The next run works: the slow model (fast now) is built, and nothing else was written.
    scratch.extra_env = {}
    assert "SLOW_MODEL_MARKER" not in os.environ
    again = scratch.materialize(select=["staging/slow_model"])
    assert again["status"] == "SUCCESS", again["failures"]
    assert again["executions"] == 1
    assert scratch.query("SELECT COUNT(*) FROM staging.slow_model") == [[1]]
