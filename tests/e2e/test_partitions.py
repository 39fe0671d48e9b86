"""SQLMesh intervals as Dagster time partitions: a range is one execution of exactly that range.

Real Dagster runs of the baked starter project pointed at the SQLMesh project
under ``sqlmesh_projects/partitioned`` (two daily partitioned models and an
unpartitioned one over them), on real DuckDB. The tests write the source
table themselves, then compare what Dagster reports per partition with the
rows per day in the warehouse.
"""

import pytest
from helpers.partitioned_project import (
    PARTITIONED,
    day,
    days,
    evaluated_batches,
    range_tags,
    revenue_per_day,
    use_partitioned_project,
)
from helpers.project import Scratch, probe, run

pytestmark = pytest.mark.e2e

RESTATE = {"sqlmesh/mode": "restate"}


@pytest.fixture
def scratch(starter_project, tmp_path) -> Scratch:
    """The partitioned project on a fresh warehouse (see helpers.partitioned_project), in-process.

    In-process only: how the steps of a run share its one execution does not depend on
    partitions, and test_shared_execution proves it under the multiprocess executor on
    unpartitioned runs. No partitioned run is made under the multiprocess executor.
    """
    scratch = starter_project.scratch(tmp_path)
    use_partitioned_project(scratch)
    return scratch


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


def test_make_run_takes_a_partition_range_of_the_partitioned_models(scratch):
    """The generated README's command for a range: one run, one execution, those days only."""
    command = ["make", "run", "SELECT=tag:dagster_partitioned", f"PARTITION={day(0)}...{day(1)}"]
    run(command, scratch.project.root, scratch.env())

    result = probe(scratch.project.root, scratch.project.package, scratch.env(), "--summarize", "latest")
    assert result["status"] == "SUCCESS"
    assert result["executions"] == 1
    assert result["partitions"] == {key: days(0, 1) for key in PARTITIONED}
    assert revenue_per_day(scratch) == {key: 60.0 for key in days(0, 1)}
