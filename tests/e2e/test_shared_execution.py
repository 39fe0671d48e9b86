"""One SQLMesh execution per Dagster run, shared by every step, under both executors.

Each test runs real Dagster jobs of a baked, installed project against real
SQLMesh on a real DuckDB file. Executions and per-model evaluations are
counted from the run's event log: the executing step logs one line per
SQLMesh execution, and one line per model SQLMesh reports as evaluated.
"""

from datetime import UTC, datetime

import pytest
from helpers.demo_outcomes import BAD_CAST, BLOCKING, assert_first_demo_run, evaluated, key, step
from helpers.sample_expectations import (
    EXPECTED_ERROR_SNIPPETS,
    EXPECTED_EVALUATED_DEMO,
    EXPECTED_FAILED,
    EXPECTED_SKIPPED,
)

pytestmark = [pytest.mark.e2e, pytest.mark.parametrize("executor", ["in_process", "multiprocess"])]


def test_full_materialization_of_the_demo(demo_project, tmp_path, executor):
    scratch = demo_project.scratch(tmp_path, executor)
    first_day = datetime.now(UTC).date()
    result = scratch.materialize()

    assert_first_demo_run(result, scratch, EXPECTED_ERROR_SNIPPETS[BAD_CAST])

    # The environment exists after a first run with failures: the next run works,
    # evaluates nothing that is complete, and still reports every healthy asset.
    second = scratch.materialize()
    assert second["executions"] == 1
    assert second["lock_errors"] == 0
    if datetime.now(UTC).date() == first_day:  # a new day brings new @daily intervals
        assert evaluated(second) == {}
        healthy = EXPECTED_EVALUATED_DEMO
        assert {key(m) for m in healthy} <= set(second["materialized"])
        for model in healthy:
            assert (
                second["materialized"][key(model)]["sqlmesh/status"]
                == "up to date, not evaluated in this run"
            )
    assert {s for s, status in second["steps"].items() if status == "STEP_FAILURE"} == {
        step(model) for model in EXPECTED_FAILED
    }


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


def test_reexecution_from_failure_runs_only_what_failed(demo_project, tmp_path, executor):
    scratch = demo_project.scratch(tmp_path, executor, copy_sqlmesh_project=True)
    failed_run = scratch.materialize()
    assert failed_run["status"] == "FAILURE"

    # Fix the model that fails at execution, then re-execute from failure.
    model_file = scratch.sqlmesh_project / "models" / "failure_demo" / "orders_with_bad_cast.sql"
    model_file.write_text(
        model_file.read_text().replace("CAST(status AS INTEGER)", "TRY_CAST(status AS INTEGER)")
    )
    retry = scratch.materialize(reexecute_from_failure=failed_run["run_id"])

    assert retry["executions"] == 1
    reexecuted = EXPECTED_FAILED | EXPECTED_SKIPPED
    bad_cast_chain = {BAD_CAST, "failure_demo.bad_cast_summary", "failure_demo.bad_cast_report"}
    assert evaluated(retry) == {model: 1 for model in bad_cast_chain}
    assert set(retry["steps"]) <= {step(m) for m in reexecuted}
    assert {s for s, status in retry["steps"].items() if status == "STEP_SUCCESS"} == {
        step(m) for m in bad_cast_chain
    }
    # The blocking audit still fails: its step fails again and nothing below it runs.
    assert retry["steps"][step(BLOCKING)] == "STEP_FAILURE"
    assert step("failure_demo.after_blocking_audit") not in retry["steps"]
