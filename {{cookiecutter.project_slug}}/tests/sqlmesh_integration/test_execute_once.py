"""One execution per run, whatever the number of steps or processes asking for it."""

import json

import pytest
from dagster import Failure

from {{ cookiecutter.package_name }}.sqlmesh_integration.outcomes import (
    AuditOutcome,
    ExecutionResults,
    ModelOutcome,
    ModelStatus,
)
from {{ cookiecutter.package_name }}.sqlmesh_integration.run_results import execute_once


def results(run_id: str = "run-1") -> ExecutionResults:
    return ExecutionResults(
        run_id=run_id,
        mode="run",
        plan_applied=True,
        models={
            '"w"."s"."a"': ModelOutcome(
                model="s.a",
                status=ModelStatus.EVALUATED,
                duration_ms=12,
                intervals=[("2024-01-01T00:00:00+00:00", "2024-01-02T00:00:00+00:00")],
                audits=[
                    AuditOutcome("not_null", "columns=(id)", blocking=True, passed=False, failing_rows=3)
                ],
                row_count=7,
            ),
            **{
                f'"w"."s"."{status.value}"': ModelOutcome(
                    model=f"s.{status.value}", status=status, error="why"
                )
                for status in ModelStatus
                if status is not ModelStatus.EVALUATED
            },
        },
    )


def test_results_round_trip_through_json_with_every_status():
    original = results()
    assert ExecutionResults.from_json(original.to_json()) == original
    assert {outcome["status"] for outcome in json.loads(original.to_json())["models"].values()} == {
        status.value for status in ModelStatus
    }


def test_only_rows_written_count_as_written():
    assert {status for status in ModelStatus if ModelOutcome("m", status).wrote_rows} == {
        ModelStatus.EVALUATED,
        ModelStatus.AUDIT_FAILED,
    }


def everything(claimed: set[str]) -> set[str]:
    return {"a", "b", "c"} - claimed


def test_the_first_caller_executes_for_the_whole_run_and_every_later_one_reads(tmp_path):
    calls = []

    def execute(wave, earlier):
        calls.append(wave)
        return results()

    first, executed_first = execute_once(tmp_path / "run-1", "b", everything, execute)
    second, executed_second = execute_once(tmp_path / "run-1", "c", everything, execute)
    assert (executed_first, executed_second) == (True, False)
    assert first == second and calls == [{"a", "b", "c"}]


def test_a_model_waiting_for_another_step_gets_a_later_execution(tmp_path):
    waits = {"c"}  # c is below an asset that is not SQLMesh's, whose step has not run yet
    calls = []

    def execute(wave, earlier):
        calls.append((wave, len(earlier)))
        return results()

    execute_once(tmp_path / "run-1", "a", lambda claimed: everything(claimed) - waits, execute)
    waits.clear()  # that step succeeded
    _, executed = execute_once(tmp_path / "run-1", "c", lambda claimed: everything(claimed) - waits, execute)
    assert executed
    assert calls == [({"a", "b"}, 0), ({"c"}, 1)]


def test_a_started_execution_without_results_is_never_executed_twice(tmp_path):
    run_dir = tmp_path / "run-1"
    run_dir.mkdir()
    (run_dir / "started-1.json").write_text(json.dumps(["a", "b"]))  # the executing process died

    with pytest.raises(Failure, match="stopped before it shared its results"):
        execute_once(run_dir, "b", everything, lambda wave, earlier: pytest.fail("executed a second time"))


def test_a_failed_execution_leaves_the_marker_so_the_run_fails_instead_of_retrying(tmp_path):
    def execute(wave, earlier):
        raise RuntimeError("the warehouse went away")

    with pytest.raises(RuntimeError):
        execute_once(tmp_path / "run-1", "a", everything, execute)
    with pytest.raises(Failure):
        execute_once(tmp_path / "run-1", "b", everything, lambda wave, earlier: results())
