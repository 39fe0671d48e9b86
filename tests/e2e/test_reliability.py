"""Real users do real things: kill runs, keep a DuckDB shell open, click Materialize three times.

Every test runs real Dagster jobs of the starter bake (every model succeeds),
so any failure here is the fault being tested, not the demo's.
"""

import subprocess
import time

import pytest
from helpers.concurrency import WAITED_FOR
from helpers.dagster_dev import LAUNCH, free_port, graphql, serving
from helpers.project import IN_PROJECT, probe
from helpers.sample_expectations import ALL_MODELS_STARTER, MART_ROW_COUNTS, PYTHON_ASSETS

pytestmark = pytest.mark.e2e

FAULTS = IN_PROJECT / "faults"
# What a user's open DuckDB session does: hold the file, then wait.
HOLD_THE_WAREHOUSE = (
    "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('ready', flush=True); time.sleep(300)"
)


def assert_warehouse_intact(scratch) -> None:
    """Marts have the rows of a clean run; the incremental model has no duplicate."""
    for model, rows in MART_ROW_COUNTS.items():
        assert scratch.query(f"SELECT COUNT(*) FROM {model}") == [[rows]], model
    assert scratch.query("SELECT COUNT(*) - COUNT(DISTINCT order_id) FROM staging.stg_orders") == [[0]]


@pytest.mark.parametrize("fault", ["loading", "evaluating", "after_evaluating"])
def test_a_killed_sqlmesh_process_fails_the_run_and_the_next_run_recovers(starter_project, tmp_path, fault):
    """What SQLMesh finished before the kill stays reported; every other step fails saying why."""
    scratch = starter_project.scratch(tmp_path)
    scratch.extra_env = {"PYTHONPATH": str(FAULTS), "SQLMESH_DAGSTER_FAULT": fault}
    killed = scratch.materialize()

    assert killed["executions"] == 1
    assert all("killed by signal SIGKILL" in message for message in killed["failures"].values())
    # The Python asset writes its table before SQLMesh starts: never affected.
    assert PYTHON_ASSETS <= set(killed["materialized"])
    reported = set(killed["materialized"]) - PYTHON_ASSETS
    if fault == "loading":
        assert killed["status"] == "FAILURE" and killed["failures"] and not reported
    elif fault == "evaluating":  # killed as SQLMesh starts its third evaluation
        assert killed["status"] == "FAILURE" and killed["failures"]
        assert 1 <= len(reported) <= len(killed["evaluated"]) <= 2
    else:  # killed after SQLMesh finished: every model was reported as it finished
        assert killed["status"] == "SUCCESS", killed["failures"]
        assert len(reported) == len(killed["evaluated"]) == len(ALL_MODELS_STARTER)
        assert any("killed by signal SIGKILL" in message for message in killed["errors"])

    scratch.extra_env = {}
    recovered = scratch.materialize()
    assert recovered["status"] == "SUCCESS", recovered["failures"]
    assert recovered["executions"] == 1 and recovered["lock_errors"] == 0
    # Only what the killed run did not finish is evaluated again.
    assert not set(recovered["evaluated"]) & set(killed["evaluated"])
    assert_warehouse_intact(scratch)
    # No interval was left missing: a further run has nothing to evaluate.
    again = scratch.materialize()
    assert again["status"] == "SUCCESS" and again["evaluated"] == {}
    runs = scratch.dagster_home / "storage" / "sqlmesh_runs"
    assert sorted(p.name for p in runs.iterdir()) == sorted(
        run["run_id"] for run in (killed, recovered, again)
    )


def test_a_locked_warehouse_fails_fast_and_says_who_holds_it(starter_project, tmp_path):
    scratch = starter_project.scratch(tmp_path)
    holder = subprocess.Popen(
        [
            str(starter_project.python),
            "-c",
            HOLD_THE_WAREHOUSE,
            str(scratch.warehouse),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        started = time.monotonic()
        locked = scratch.materialize()
        took = time.monotonic() - started
    finally:
        holder.kill()
        holder.wait()
    assert locked["status"] == "FAILURE"
    assert took < 120, "a locked warehouse must fail the run, not leave it waiting"
    # Every SQLMesh step fails saying who holds the file (the Python asset may fail its own way).
    sqlmesh_steps = {step for step in locked["steps"] if step != "landing__revenue_targets"}
    assert sqlmesh_steps and set(locked["failures"]) >= sqlmesh_steps, locked["failures"]
    for message in locked["failures"].values():
        assert f"{scratch.warehouse} is locked by another process" in message
        assert f"(PID {holder.pid})" in message and f"kill {holder.pid}" in message
    # Released: the next run works.
    assert scratch.materialize()["status"] == "SUCCESS"
    assert_warehouse_intact(scratch)


# What another execution of the project does while it has the warehouse: hold its lock file.
HOLD_THE_LOCK_FILE = """
import importlib, sys, time
from pathlib import Path
locks = importlib.import_module(sys.argv[1] + ".sqlmesh_integration.execution.locks")
lock = locks.FileLock(locks.lock_file_of(Path(sys.argv[2]).resolve()), locks.Holder.this_process(None))
assert lock.try_acquire()
print("ready", flush=True)
time.sleep(600)
"""
ENDED = {"SUCCESS", "FAILURE", "CANCELED"}
RUN_LOGS = """
query ($runId: ID!) {
  logsForRun(runId: $runId) { ... on EventConnection { events { ... on MessageEvent { message } } } }
}
"""
RUNS = "{ runsOrError { ... on Runs { results { runId status startTime endTime } } } }"


def test_three_materializations_at_once_run_together_and_take_turns_at_the_duckdb_file(
    starter_project, tmp_path
):
    """Clicking Materialize three times: no run queue (the shipped dagster.yaml has no run limit), so
    the runs start together, and their SQLMesh executions take turns at the DuckDB file.

    An execution of the project holds the warehouse's lock file while the three are launched, so
    their executions wait for it whatever the machine's speed: all three are in progress at once
    unless something queues them. The holder is then killed with SIGKILL, and the three go on.
    """
    scratch = starter_project.scratch(tmp_path)
    assert scratch.materialize()["status"] == "SUCCESS"  # a built warehouse, so every run below writes
    port = free_port()
    env = {**scratch.env(), "PORT": str(port)}
    selections = [
        [["marts", "orders"], ["marts", "customers"]],
        [["marts", "daily_revenue"], ["marts", "orders"]],
        [["raw", "orders"], ["staging", "stg_orders"], ["marts", "orders"]],
    ]
    with serving(["make", "dev"], starter_project.root, env, port, timeout=120):
        holder = subprocess.Popen(
            [
                str(starter_project.python),
                "-c",
                HOLD_THE_LOCK_FILE,
                starter_project.package,
                str(scratch.warehouse),
            ],
            cwd=starter_project.root,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert holder.stdout.readline().strip() == "ready"
            launched_at = time.monotonic()
            run_ids = []
            for selection in selections:
                params = {
                    "selector": {
                        "repositoryLocationName": "shop_analytics",
                        "repositoryName": "__repository__",
                        "jobName": "__ASSET_JOB",
                        "assetSelection": [{"path": path} for path in selection],
                    },
                    "runConfigData": {},
                    # Restate, so that each run really writes to the warehouse.
                    "executionMetadata": {"tags": [{"key": "sqlmesh/mode", "value": "restate"}]},
                }
                reply = graphql(port, LAUNCH, {"params": params})["launchRun"]
                assert reply["__typename"] == "LaunchRunSuccess", reply
                run_ids.append(reply["run"]["runId"])
            assert time.monotonic() - launched_at < 10, "the three launches must land together"
            wait_for_statuses(port, run_ids, {"STARTED"}, "the three runs to be in progress at once")
            # Each run's execution says it waits for the holder before the holder is killed.
            waiting = f"held by a process (pid {holder.pid} "
            wait_until_logged(port, run_ids, waiting, "each run's execution to wait for the holder")
        finally:
            holder.kill()
            holder.wait()
        runs = wait_for_statuses(port, run_ids, ENDED, "the three runs to end")

    assert [runs[run_id]["status"] for run_id in run_ids] == ["SUCCESS"] * len(selections)
    assert max(runs[run_id]["startTime"] for run_id in run_ids) < min(
        runs[run_id]["endTime"] for run_id in run_ids
    )
    waited_for = set()
    for run_id in run_ids:
        summary = probe(starter_project.root, starter_project.package, scratch.env(), "--summarize", run_id)
        assert summary["executions"] == 1 and summary["lock_errors"] == 0
        assert summary["evaluated"], "a restated run evaluates its selection"
        waited_for |= {
            metadata[WAITED_FOR] for metadata in summary["materialized"].values() if WAITED_FOR in metadata
        }
    # The first execution to get the file waited for the killed holder last; each of the others
    # waited for another of the three runs last. Their assets say whom.
    holders = [*run_ids, f"pid {holder.pid} "]
    assert waited_for and all(any(who in text for who in holders) for text in waited_for), waited_for
    assert any(f"pid {holder.pid} " in text for text in waited_for), waited_for
    assert_warehouse_intact(scratch)


def wait_until_logged(port: int, run_ids: list[str], text: str, what: str, seconds: float = 300) -> None:
    """Poll the webserver until the event log of every run of ``run_ids`` has a message with ``text``."""
    deadline = time.monotonic() + seconds
    pending = set(run_ids)
    while pending:
        for run_id in sorted(pending):
            logs = graphql(port, RUN_LOGS, {"runId": run_id})["logsForRun"]
            if any(text in (event.get("message") or "") for event in logs.get("events", [])):
                pending.discard(run_id)
        assert not pending or time.monotonic() < deadline, f"waited {seconds} s for {what}: {pending}"
        time.sleep(1)


def wait_for_statuses(
    port: int, run_ids: list[str], statuses: set[str], what: str, seconds: float = 300
) -> dict:
    """Poll the webserver until every run of ``run_ids`` has one of ``statuses``; the runs by id."""
    deadline = time.monotonic() + seconds
    while True:
        runs = {run["runId"]: run for run in graphql(port, RUNS)["runsOrError"]["results"]}
        if all(runs[run_id]["status"] in statuses for run_id in run_ids):
            return runs
        ended_otherwise = {
            run_id: runs[run_id]["status"] for run_id in run_ids if runs[run_id]["status"] in ENDED - statuses
        }
        assert not ended_otherwise, f"while waiting for {what}, runs ended: {ended_otherwise}"
        assert time.monotonic() < deadline, f"waited {seconds} s for {what}: {runs}"
        time.sleep(1)
