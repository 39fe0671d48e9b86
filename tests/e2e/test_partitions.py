"""SQLMesh intervals as Dagster time partitions: a range is one execution of exactly that range.

Real Dagster runs of the baked starter project pointed at the SQLMesh project
under ``sqlmesh_projects/partitioned`` (two daily partitioned models and an
unpartitioned one over them), on real DuckDB. The tests write the source
table themselves, then compare what Dagster reports per partition with the
rows per day in the warehouse.
"""

import shutil
import time
from datetime import date, timedelta
from pathlib import Path

import pytest
from helpers.dagster_dev import free_port, graphql, serving
from helpers.project import Scratch, probe

pytestmark = pytest.mark.e2e

PROJECT = Path(__file__).parent / "sqlmesh_projects" / "partitioned"
START = date.today() - timedelta(days=14)  # the project's model_defaults.start
PARTITIONED = ["staging/orders", "marts/daily_revenue"]
RESTATE = {"sqlmesh/mode": "restate"}
# GraphQL's launchPartitionBackfill, as the UI's Materialize sends it for a range of partitions.
BACKFILL = """
mutation Backfill($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
  }
}
"""
BACKFILL_STATUS = """
query Backfill($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    ... on PartitionBackfill { status runs(limit: 10) { runId status } }
  }
}
"""


def day(number: int) -> str:
    """The partition key of the project's day ``number`` (0 is its start)."""
    return (START + timedelta(days=number)).isoformat()


def days(first: int, last: int) -> list[str]:
    return [day(number) for number in range(first, last + 1)]


def range_tags(first: int, last: int) -> dict[str, str]:
    """The tags of a run for a range of partitions, as a single-run backfill launches it."""
    return {
        "dagster/asset_partition_range_start": day(first),
        "dagster/asset_partition_range_end": day(last),
    }


@pytest.fixture
def scratch(starter_project, tmp_path, request) -> Scratch:
    """The partitioned project on a fresh warehouse holding three orders of 10, 20 and 30 a day."""
    scratch = starter_project.scratch(tmp_path, executor=getattr(request, "param", "in_process"))
    scratch.sqlmesh_project = tmp_path / "partitioned"
    shutil.copytree(PROJECT, scratch.sqlmesh_project)
    rows = ", ".join(
        f"({number * 10 + i}, DATE '{day(number)}', '{10 * (i + 1)}')"
        for number in range(15)
        for i in range(3)
    )
    scratch.execute(
        "CREATE SCHEMA landing; CREATE TABLE landing.orders (order_id INT, order_date DATE, amount TEXT); "
        f"INSERT INTO landing.orders VALUES {rows}"
    )
    return scratch


def revenue_per_day(scratch: Scratch) -> dict[str, float]:
    rows = scratch.query("SELECT order_date, revenue FROM marts.daily_revenue ORDER BY 1")
    return {str(order_date): float(revenue) for order_date, revenue in rows}


def evaluated_batches(result: dict) -> dict[str, int]:
    return {name.removeprefix("warehouse."): count for name, count in result["evaluated"].items()}


@pytest.mark.parametrize("scratch", ["in_process", "multiprocess"], indirect=True)
def test_a_range_is_one_execution_of_exactly_its_days(scratch):
    first = scratch.materialize(select=PARTITIONED, tags=range_tags(2, 4))

    assert first["status"] == "SUCCESS"
    assert first["executions"] == 1
    assert first["partitions"] == {key: days(2, 4) for key in PARTITIONED}
    # staging.orders evaluates one day per query; daily_revenue the range at once.
    assert evaluated_batches(first) == {"staging.orders": 3, "marts.daily_revenue": 1}
    assert revenue_per_day(scratch) == {key: 60.0 for key in days(2, 4)}

    # A wider range evaluates only the days SQLMesh has not filled; the others are reported as they are.
    wider = scratch.materialize(select=PARTITIONED, tags=range_tags(0, 4))

    assert wider["executions"] == 1
    assert wider["partitions"] == {key: days(0, 4) for key in PARTITIONED}
    assert evaluated_batches(wider) == {"staging.orders": 2, "marts.daily_revenue": 1}
    assert revenue_per_day(scratch) == {key: 60.0 for key in days(0, 4)}


def test_restating_one_day_changes_that_day_only(scratch):
    filled = scratch.materialize(select=[*PARTITIONED, "marts/revenue_total"], tags=range_tags(0, 4))
    assert filled["status"] == "SUCCESS"
    assert scratch.query("SELECT days, revenue FROM marts.revenue_total") == [[5, "300.00"]]
    computed_before = dict(
        scratch.query("SELECT order_date::TEXT, computed_at::TEXT FROM marts.daily_revenue")
    )
    # The source changes on two days; only one is restated.
    scratch.execute(f"UPDATE landing.orders SET amount = '100' WHERE order_date IN ('{day(2)}', '{day(3)}')")

    restated = scratch.materialize(select=PARTITIONED, tags={"dagster/partition": day(2), **RESTATE})

    assert restated["status"] == "SUCCESS"
    assert restated["executions"] == 1
    assert restated["partitions"] == {key: [day(2)] for key in PARTITIONED}
    assert evaluated_batches(restated) == {"staging.orders": 1, "marts.daily_revenue": 1}
    assert revenue_per_day(scratch) == {**{key: 60.0 for key in days(0, 4)}, day(2): 300.0}
    computed_after = dict(
        scratch.query("SELECT order_date::TEXT, computed_at::TEXT FROM marts.daily_revenue")
    )
    assert {d for d in computed_after if computed_after[d] != computed_before[d]} == {day(2)}
    # Nothing below the selection was touched: the total still reads as it was built.
    assert scratch.query("SELECT days, revenue FROM marts.revenue_total") == [[5, "300.00"]]

    # SQLMesh still holds every other day as filled: a run over the range evaluates nothing.
    again = scratch.materialize(select=PARTITIONED, tags=range_tags(0, 4))
    assert evaluated_batches(again) == {}


def test_a_failing_day_fails_its_partition_and_the_filled_days_are_reported(scratch):
    scratch.execute("UPDATE landing.orders SET amount = 'n/a' WHERE order_id = 30")  # day 3
    selection = [*PARTITIONED, "marts/revenue_total"]

    failed = scratch.materialize(select=selection, tags=range_tags(2, 4))

    assert failed["status"] == "FAILURE"
    assert failed["executions"] == 1
    assert failed["partitions"] == {"staging/orders": [day(2), day(4)]}
    assert failed["steps"] == {"staging__orders": "STEP_FAILURE"}
    message = failed["failures"]["staging__orders"]
    assert "did not fill 1 of the 3 partition(s) of staging.orders" in message
    assert f"Not filled: [{day(3)}T00:00:00+00:00, {day(4)}T00:00:00+00:00)" in message
    assert 'Could not convert string "n/a"' in message
    assert failed["failure_metadata"]["staging__orders"]["sqlmesh/partitions_not_filled"] == f"['{day(3)}']"
    # SQLMesh skipped what reads the failed model, in this range and below it.
    assert evaluated_batches(failed) == {"staging.orders": 2}
    assert scratch.query("SELECT order_date::TEXT, COUNT(*) FROM staging.orders GROUP BY 1 ORDER BY 1") == [
        [day(2), 3],
        [day(4), 3],
    ]
    assert scratch.query("SELECT COUNT(*) FROM marts.daily_revenue") == [[0]]
    assert scratch.query("SELECT COUNT(*) FROM marts.revenue_total") == [[0]]

    # Fixed at the source, the failed day alone is run again.
    scratch.execute("UPDATE landing.orders SET amount = '10' WHERE order_id = 30")
    fixed = scratch.materialize(select=["staging/orders"], tags={"dagster/partition": day(3)})

    assert fixed["status"] == "SUCCESS"
    assert fixed["partitions"] == {"staging/orders": [day(3)]}
    assert evaluated_batches(fixed) == {"staging.orders": 1}


def test_a_backfill_launched_from_the_ui_is_one_run_and_one_execution(scratch):
    """The daemon of a real `dagster dev` turns a week's backfill into one run (single-run policy)."""
    port = free_port()
    week = days(0, 6)
    with serving(["make", "dev"], scratch.project.root, {**scratch.env(), "PORT": str(port)}, port, 120):
        params = {
            "assetSelection": [{"path": key.split("/")} for key in PARTITIONED],
            "partitionNames": week,
            "fromFailure": False,
        }
        reply = graphql(port, BACKFILL, {"params": params})["launchPartitionBackfill"]
        assert reply["__typename"] == "LaunchBackfillSuccess", reply
        deadline = time.monotonic() + 300
        while True:
            backfill = graphql(port, BACKFILL_STATUS, {"id": reply["backfillId"]})["partitionBackfillOrError"]
            if backfill["status"] not in ("REQUESTED", "CANCELING", "FAILING"):
                break
            assert time.monotonic() < deadline, f"the backfill did not finish within 300 s: {backfill}"
            time.sleep(2)

    assert backfill["status"] == "COMPLETED_SUCCESS", backfill
    (run,) = backfill["runs"]
    result = probe(scratch.project.root, scratch.project.package, scratch.env(), "--summarize", run["runId"])
    assert result["status"] == "SUCCESS"
    assert result["executions"] == 1
    assert result["partitions"] == {key: week for key in PARTITIONED}
    assert evaluated_batches(result) == {"staging.orders": 7, "marts.daily_revenue": 1}
    assert revenue_per_day(scratch) == {key: 60.0 for key in week}
