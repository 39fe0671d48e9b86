"""Partitions on a SQLMesh project shaped like a real one: models starting on different dates.

The project under ``sqlmesh_projects/real_partitioned`` has the project's
default start, a model's own later start and a relative one, days and hours,
a ``batch_size``, a Python model, and unpartitioned models above and below
the partitioned ones. Every assertion about what was evaluated reads
SQLMesh's own state (``in_project/filled_intervals.py``), not Dagster's.
"""

import json
import shutil
import time
from datetime import date, timedelta
from pathlib import Path

import pytest
from helpers.dagster_dev import free_port, graphql, serving
from helpers.project import IN_PROJECT, Scratch, probe, run

pytestmark = pytest.mark.e2e

PROJECT = Path(__file__).resolve().parent / "sqlmesh_projects" / "real_partitioned"
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
    return (date.today() - timedelta(days=days_ago)).isoformat()


def midnight(days_ago: int) -> str:
    return f"{day(days_ago)}T00:00:00+00:00"


@pytest.fixture
def scratch(starter_project, tmp_path) -> Scratch:
    """The project on a fresh warehouse; ``staging.events_late`` starts ten days ago."""
    scratch = starter_project.scratch(tmp_path)
    scratch.sqlmesh_project = tmp_path / "real_partitioned"
    shutil.copytree(PROJECT, scratch.sqlmesh_project)
    daily = (scratch.sqlmesh_project / "models" / "staging" / "events_daily.sql").read_text()
    late = daily.replace("staging.events_daily", "staging.events_late").replace(
        "  cron '@daily',", f"  cron '@daily',\n  start '{day(10)}',"
    )
    (scratch.sqlmesh_project / "models" / "staging" / "events_late.sql").write_text(late)
    return scratch


def filled(scratch: Scratch) -> dict[str, list[list[str]]]:
    """What SQLMesh's state holds as filled for each model in prod."""
    command = [
        str(scratch.project.python),
        str(IN_PROJECT / "filled_intervals.py"),
        str(scratch.sqlmesh_project),
    ]
    return json.loads(run(command, scratch.project.root, scratch.env()).stdout)


def test_one_command_fills_exactly_a_range_of_every_daily_model_whatever_its_start(scratch):
    assert scratch.materialize(select=["raw/events"])["status"] == "SUCCESS"

    # Every daily model in one run, though each starts on another date: one grid per unit.
    selection = "tag:dagster_partitioned and not tag:hourly"
    run(
        ["make", "run", f"SELECT={selection}", f"PARTITION={day(12)}...{day(3)}"],
        scratch.project.root,
        scratch.env(),
    )

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
    first, last = 4, 2
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

    assert backfill["status"] == "COMPLETED_SUCCESS", backfill
    runs = [
        probe(scratch.project.root, scratch.project.package, scratch.env(), "--summarize", run["runId"])
        for run in backfill["runs"]
    ]
    assert all(result["status"] == "SUCCESS" and result["executions"] == 1 for result in runs), runs
    state = filled(scratch)
    end = midnight(last - 1)
    for name in ("events_daily", "events_py", "events_late", "events_recent"):
        assert state[f"staging.{name}"] == [[midnight(first), end]], name
    assert state["staging.events_hourly"] == [[midnight(first), end]]
    materialized = [key for result in runs for key in result["materialized"]]
    assert sorted(set(materialized)) == sorted([*DAILY, HOURLY, *UNPARTITIONED])
    assert len(materialized) == len(set(materialized))  # no asset in two runs: no interval twice
    assert scratch.query("SELECT days FROM marts.daily_summary") == [[3]]
