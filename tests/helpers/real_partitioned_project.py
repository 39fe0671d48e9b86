"""The partitioned project shaped like a real one (``e2e/sqlmesh_projects/real_partitioned``), and ways to drive it.

Its models start on different dates: the project's default (twenty days ago), a
model's own absolute start (``staging.events_late``, written here, ten days ago)
and a relative one (``'5 days ago'``); days and hours; a Python model; an
unpartitioned model above the partitioned ones and one below them.
"""

import json
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from helpers.dagster_dev import free_port, graphql, serving
from helpers.project import IN_PROJECT, Scratch, probe, run

PROJECT = Path(__file__).resolve().parents[1] / "e2e" / "sqlmesh_projects" / "real_partitioned"
DAILY = ["staging/events_daily", "staging/events_late", "staging/events_recent", "staging/events_py"]
HOURLY = "staging/events_hourly"
UNPARTITIONED = ["raw/events", "marts/daily_summary"]
BACKFILL = """
mutation Backfill($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on InvalidSubsetError { message }
  }
}
"""
BACKFILL_STATUS = """
query Backfill($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    ... on PartitionBackfill { status runs(limit: 20) { runId status } }
  }
}
"""


def day(days_ago: int) -> str:
    """The day ``days_ago`` days before today, in UTC (SQLMesh's and Dagster's days)."""
    return (datetime.now(UTC).date() - timedelta(days=days_ago)).isoformat()


def midnight(days_ago: int) -> str:
    return f"{day(days_ago)}T00:00:00+00:00"


def use_real_partitioned_project(scratch: Scratch) -> None:
    """Point ``scratch`` at a copy of the project; ``staging.events_late`` starts ten days ago."""
    scratch.sqlmesh_project = scratch.root / "real_partitioned"
    shutil.copytree(PROJECT, scratch.sqlmesh_project)
    daily = (scratch.sqlmesh_project / "models" / "staging" / "events_daily.sql").read_text()
    late = daily.replace("staging.events_daily", "staging.events_late").replace(
        "  cron '@daily',", f"  cron '@daily',\n  start '{day(10)}',"
    )
    (scratch.sqlmesh_project / "models" / "staging" / "events_late.sql").write_text(late)


def filled(scratch: Scratch) -> dict[str, list[list[str]]]:
    """What SQLMesh's state holds as filled for each model in prod."""
    script = IN_PROJECT / "filled_intervals.py"
    command = [str(scratch.project.python), str(script), str(scratch.sqlmesh_project)]
    return json.loads(run(command, scratch.project.root, scratch.env()).stdout)


def backfill_everything(scratch: Scratch, first: int, last: int) -> tuple[dict, list[dict]]:
    """Backfill every asset for days ``first``..``last`` ago, as the UI's Materialize all launches it.

    Through a real `dagster dev` (its daemon runs the backfill): the days of the
    daily models, the hours of the same days of the hourly one, and the
    unpartitioned assets. Returns the backfill's status and a summary of each run.
    """
    hours = {"start": f"{day(first)}-00:00", "end": f"{day(last)}-23:00"}
    days = {"start": day(first), "end": day(last)}
    port = free_port()
    with serving(["make", "dev"], scratch.project.root, {**scratch.env(), "PORT": str(port)}, port, 120):
        params = {
            "partitionsByAssets": [
                *({"assetKey": {"path": key.split("/")}, "partitions": {"range": days}} for key in DAILY),
                {"assetKey": {"path": HOURLY.split("/")}, "partitions": {"range": hours}},
                *({"assetKey": {"path": key.split("/")}} for key in UNPARTITIONED),
            ],
            "fromFailure": False,
        }
        reply = graphql(port, BACKFILL, {"params": params})["launchPartitionBackfill"]
        assert reply["__typename"] == "LaunchBackfillSuccess", reply
        deadline = time.monotonic() + 420
        while True:
            backfill = graphql(port, BACKFILL_STATUS, {"id": reply["backfillId"]})["partitionBackfillOrError"]
            if backfill["status"] not in ("REQUESTED", "CANCELING", "FAILING"):
                break
            assert time.monotonic() < deadline, f"the backfill did not finish within 420 s: {backfill}"
            time.sleep(2)
    runs = [
        probe(scratch.project.root, scratch.project.package, scratch.env(), "--summarize", run["runId"])
        for run in backfill["runs"]
    ]
    return backfill, runs


def assert_backfilled_exactly(
    scratch: Scratch, backfill: dict, runs: list[dict], first: int, last: int
) -> None:
    """The backfill succeeded, one execution a run, every model filled for exactly its days, no asset twice."""
    assert backfill["status"] == "COMPLETED_SUCCESS", backfill
    assert all(result["status"] == "SUCCESS" and result["executions"] == 1 for result in runs), runs
    state = filled(scratch)
    end = midnight(last - 1)
    for name in ("events_daily", "events_py", "events_late", "events_recent", "events_hourly"):
        assert state[f"staging.{name}"] == [[midnight(first), end]], name
    materialized = [key for result in runs for key in result["materialized"]]
    assert sorted(set(materialized)) == sorted([*DAILY, HOURLY, *UNPARTITIONED])
    assert len(materialized) == len(set(materialized))  # no asset in two runs: no interval twice
    summary = scratch.query("SELECT days FROM marts.daily_summary")
    assert summary == [[first - last + 1]], summary
