"""What the first run of the demo sample does, asserted against a real run's summary.

Shared by the tests of every executor and every warehouse: the outcomes are
the same, only the database's wording of the failing cast differs.
"""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

from helpers.sample_expectations import (
    ALL_MODELS_DEMO,
    AUDITS_BY_MODEL,
    EXPECTED_EVALUATED_DEMO,
    EXPECTED_FAILED,
    EXPECTED_FAILED_BLOCKING_AUDITS,
    EXPECTED_SKIPPED,
    EXPECTED_WARN_AUDITS,
    FAILING_AUDIT_ROW_COUNTS,
    MART_ROW_COUNTS,
    PASSING_NON_BLOCKING_AUDITS,
    PYTHON_ASSETS,
)

T = TypeVar("T")

BAD_CAST = "failure_demo.orders_with_bad_cast"
BLOCKING = "failure_demo.orders_failing_blocking_audit"


def key(model: str) -> str:
    return model.replace(".", "/")


def step(model: str) -> str:
    return model.replace(".", "__")


def evaluated(result: dict) -> dict[str, int]:
    """Model name -> how many times SQLMesh reported evaluating it in this run (catalog dropped)."""
    return {name.split(".", 1)[1]: count for name, count in result["evaluated"].items()}


def mart_rows(scratch) -> dict[str, list]:
    """What the warehouse answers to COUNT(*) on each mart (read right after the first run)."""
    return {model: scratch.query(f"SELECT COUNT(*) FROM {model}") for model in MART_ROW_COUNTS}


def assert_first_demo_run(
    result: dict, rows: dict[str, list], bad_cast_error: str, counts_rows: bool = True
) -> None:
    """One execution; failed, skipped, materialized and checked exactly as the sample says.

    ``rows`` is :func:`mart_rows` of the warehouse right after the run. ``counts_rows``: whether
    materializations carry a row count (``include_metadata``: not by default on PostgreSQL).
    """
    assert result["executions"] == 1
    assert result["lock_errors"] == 0
    assert result["status"] == "FAILURE"
    assert evaluated(result) == {model: 1 for model in EXPECTED_EVALUATED_DEMO}

    # Failed at execution: the step fails with DuckDB's text and the model name.
    assert {s for s, status in result["steps"].items() if status == "STEP_FAILURE"} == {
        step(model) for model in EXPECTED_FAILED
    }
    assert BAD_CAST in result["failures"][step(BAD_CAST)]
    assert bad_cast_error in result["failures"][step(BAD_CAST)]
    assert result["failure_metadata"][step(BAD_CAST)]["sqlmesh/model_file"] == (
        "sqlmesh_project/models/failure_demo/orders_with_bad_cast.sql"
    )
    # Skipped by SQLMesh: Dagster does not execute them either.
    assert not {step(model) for model in EXPECTED_SKIPPED} & set(result["steps"])

    # Materialized: the Python asset, what SQLMesh evaluated, and the blocking-audit model whose rows were written.
    assert set(result["materialized"]) == PYTHON_ASSETS | {
        key(m) for m in ALL_MODELS_DEMO - EXPECTED_SKIPPED - {BAD_CAST}
    }
    for model in EXPECTED_EVALUATED_DEMO:
        assert result["materialized"][key(model)]["sqlmesh/status"] == "evaluated in this run"
    assert "blocking audit failed" in result["materialized"][key(BLOCKING)]["sqlmesh/status"]
    for model, count in MART_ROW_COUNTS.items():
        assert result["materialized"][key(model)].get("dagster/row_count") == (count if counts_rows else None)
    assert rows == {model: [[count]] for model, count in MART_ROW_COUNTS.items()}

    # Checks: one result per audit that ran, failing exactly where the sample fails.
    expected_checks = {
        model: audits
        for model, audits in AUDITS_BY_MODEL.items()
        if model not in EXPECTED_SKIPPED and model != BAD_CAST
    }
    assert sorted(c.rsplit(":", 1)[0] for c in result["checks"]) == sorted(
        key(model) for model, audits in expected_checks.items() for _ in audits
    )
    for check, outcome in result["checks"].items():
        asset, audit = check.split(":")
        model = asset.replace("/", ".")
        if (model, audit) in EXPECTED_FAILED_BLOCKING_AUDITS:
            assert outcome["severity"] == "ERROR" and not outcome["passed"], check
        elif (model, audit) in EXPECTED_WARN_AUDITS:
            assert outcome["severity"] == "WARN" and not outcome["passed"], check
        elif (model, audit) in PASSING_NON_BLOCKING_AUDITS:
            assert outcome["severity"] == "WARN" and outcome["passed"], check
        else:
            assert outcome["severity"] == "ERROR" and outcome["passed"], check
        if (model, audit) in FAILING_AUDIT_ROW_COUNTS:
            assert outcome["failing_rows"] == FAILING_AUDIT_ROW_COUNTS[(model, audit)]


def assert_next_demo_run(second: dict) -> None:
    """The run after the first, the same UTC day: it works, evaluates nothing complete, reports every healthy asset."""
    assert second["executions"] == 1
    assert second["lock_errors"] == 0
    assert evaluated(second) == {}
    assert {key(m) for m in EXPECTED_EVALUATED_DEMO} <= set(second["materialized"])
    for model in EXPECTED_EVALUATED_DEMO:
        assert second["materialized"][key(model)]["sqlmesh/status"] == "up to date, not evaluated in this run"
    assert {s for s, status in second["steps"].items() if status == "STEP_FAILURE"} == {
        step(model) for model in EXPECTED_FAILED
    }


def on_one_utc_day(runs: Callable[[], T]) -> T:
    """``runs()``, once more if it crossed UTC midnight (then with what it makes anew: a fresh scratch).

    A new UTC day brings new @daily intervals, so what a run after the first evaluates
    depends on whether midnight fell between them. Runs take minutes: a second try does
    not cross midnight again, and every assertion holds every day.
    """
    for _ in range(2):
        day = datetime.now(UTC).date()
        result = runs()
        if datetime.now(UTC).date() == day:
            return result
    raise AssertionError("two tries of the runs each crossed UTC midnight")
