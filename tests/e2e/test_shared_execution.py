"""One SQLMesh execution per Dagster run, shared by every step, under both executors.

Each test runs real Dagster jobs of a baked, installed project against real
SQLMesh on a real DuckDB file. Executions and per-model evaluations are
counted from the run's event log: the executing step logs one line per
SQLMesh execution, and one line per model SQLMesh reports as evaluated.

In-process, the demo's first two runs are the session's shared ones
(``demo_runs`` in conftest.py); under the multiprocess executor this module
runs them itself, then re-executes the first from failure.
"""

import pytest
from helpers.demo_outcomes import (
    BAD_CAST,
    BLOCKING,
    assert_first_demo_run,
    assert_next_demo_run,
    evaluated,
    key,
    mart_rows,
    step,
)
from helpers.sample_expectations import EXPECTED_ERROR_SNIPPETS, EXPECTED_FAILED, EXPECTED_SKIPPED

pytestmark = pytest.mark.e2e

EXECUTORS = ["in_process", "multiprocess"]
BAD_CAST_CHAIN = {BAD_CAST, "failure_demo.bad_cast_summary", "failure_demo.bad_cast_report"}


def fix_the_bad_cast(scratch) -> None:
    model_file = scratch.sqlmesh_project / "models" / "failure_demo" / "orders_with_bad_cast.sql"
    model_file.write_text(
        model_file.read_text().replace("CAST(status AS INTEGER)", "TRY_CAST(status AS INTEGER)")
    )


def assert_reexecuted_what_failed(retry: dict) -> None:
    """A re-execution from failure of the first run, after the bad cast was fixed."""
    assert retry["executions"] == 1
    assert evaluated(retry) == {model: 1 for model in BAD_CAST_CHAIN}
    assert set(retry["steps"]) <= {step(m) for m in EXPECTED_FAILED | EXPECTED_SKIPPED}
    assert {s for s, status in retry["steps"].items() if status == "STEP_SUCCESS"} == {
        step(m) for m in BAD_CAST_CHAIN
    }
    # The blocking audit still fails: its step fails again and nothing below it runs.
    assert retry["steps"][step(BLOCKING)] == "STEP_FAILURE"
    assert step("failure_demo.after_blocking_audit") not in retry["steps"]


def test_full_materialization_of_the_demo_in_process(demo_runs):
    assert_first_demo_run(demo_runs.first, demo_runs.first_mart_rows, EXPECTED_ERROR_SNIPPETS[BAD_CAST])
    # The environment exists after a first run with failures: the next run works,
    # evaluates nothing that is complete, and still reports every healthy asset.
    assert_next_demo_run(demo_runs.next)


def test_full_materialization_of_the_demo_multiprocess_then_reexecution_from_failure(demo_project, tmp_path):
    """The first run's exact outcomes with a process per step, then its re-execution from failure
    (the run after a first one, which evaluates nothing, is the same under either executor: in
    process above)."""
    scratch = demo_project.scratch(tmp_path, "multiprocess", copy_sqlmesh_project=True)
    first = scratch.materialize()
    assert_first_demo_run(first, mart_rows(scratch), EXPECTED_ERROR_SNIPPETS[BAD_CAST])

    # Fix the model that fails at execution, then re-execute the first run from failure.
    fix_the_bad_cast(scratch)
    assert_reexecuted_what_failed(scratch.materialize(reexecute_from_failure=first["run_id"]))


def test_reexecution_from_failure_runs_only_what_failed_in_process(demo_project, tmp_path):
    scratch = demo_project.scratch(tmp_path, copy_sqlmesh_project=True)
    failed_run = scratch.materialize()
    assert failed_run["status"] == "FAILURE"

    fix_the_bad_cast(scratch)
    assert_reexecuted_what_failed(scratch.materialize(reexecute_from_failure=failed_run["run_id"]))


@pytest.mark.parametrize("executor", EXECUTORS)
def test_subset_runs_evaluate_only_the_selection(demo_project, tmp_path, executor):
    scratch = demo_project.scratch(tmp_path, executor)
    selection = ["raw.orders", "staging.stg_orders"]

    # On an empty warehouse: SQLMesh would evaluate missing upstream intervals
    # unless told not to; here nothing outside the selection may be evaluated.
    result = scratch.materialize(select=[key(m) for m in selection])
    assert result["executions"] == 1
    assert evaluated(result) == {model: 1 for model in selection}
    assert set(result["materialized"]) == {key(m) for m in selection}
    assert set(result["steps"]) == {step(m) for m in selection}

    # Forced re-evaluation of exactly one model, downstream untouched.
    restated = scratch.materialize(select=[key("staging.stg_orders")], tags={"sqlmesh/mode": "restate"})
    assert restated["executions"] == 1
    assert evaluated(restated) == {"staging.stg_orders": 1}
    assert restated["materialized"][key("staging.stg_orders")]["sqlmesh/status"] == "evaluated in this run"
