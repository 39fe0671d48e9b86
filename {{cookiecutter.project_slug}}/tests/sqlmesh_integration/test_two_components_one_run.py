"""A run of two components' assets: each component executes SQLMesh once, whichever executor runs it.

Two real ``defs.yaml`` on one SQLMesh project on DuckDB: ``base`` holds every
model but the reports, ``reports`` the models of the ``reports`` schema, which
read ``base``'s at every level (``raw.orders`` is ready early, ``marts.revenue``
last). A step of ``reports`` becomes ready as soon as what its own model reads
is built, while ``base`` is still building what the other reports read: its
execution must still cover every report, not only the ones whose parents are
built already. Each execution leaves one ``started-<n>.json`` in the run's
folder of its component (``<storage>/sqlmesh_runs/<run_id>/<name>/``).

Where a model of one component reads the other's, which reads the first's
(a chain across components), each needs a second execution, and the run
must still end.
"""

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import pytest
from component_sandbox import asset_job_for_processes, components_sandbox, duckdb_project
from dagster import (
    AssetKey,
    DagsterEventType,
    DagsterInstance,
    JobExecutionResult,
    execute_job,
    instance_for_test,
)

from {{ cookiecutter.package_name }}.sqlmesh_integration.vocabulary.constants import STATUS

MODELS = {
    "raw_orders": "MODEL (name raw.orders, kind FULL);\nSELECT 1 AS id, 10 AS amount UNION ALL SELECT 2, 5",
    "stg_orders": "MODEL (name staging.orders, kind FULL);\nSELECT id, amount FROM raw.orders",
    "revenue": "MODEL (name marts.revenue, kind FULL);\nSELECT SUM(amount) AS total FROM staging.orders",
    "broken": "MODEL (name marts.broken, kind FULL);\n"
    "SELECT CAST('none' AS INT) AS total FROM staging.orders",
    "order_count": "MODEL (name reports.order_count, kind FULL);\nSELECT COUNT(*) AS orders FROM raw.orders",
    "revenue_report": "MODEL (name reports.revenue_report, kind FULL);\nSELECT total FROM marts.revenue",
    "broken_report": "MODEL (name reports.broken_report, kind FULL);\nSELECT total FROM marts.broken",
}
CHAIN = {
    "raw_orders": MODELS["raw_orders"],
    "order_count": MODELS["order_count"],
    "order_stats": "MODEL (name marts.order_stats, kind FULL);\n"
    "SELECT orders * 2 AS doubled FROM reports.order_count",
    "stats_report": "MODEL (name reports.stats_report, kind FULL);\nSELECT doubled FROM marts.order_stats",
}
SPLIT = {"base": {"exclude": "reports.*"}, "reports": {"select": "reports.*"}}
EXECUTORS = {
    "in_process": {"in_process": {}},
    # Two steps at a time: a step that held its slot while waiting for a step with none would never end.
    "multiprocess": {"multiprocess": {"max_concurrent": 2}},
}


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    """A Dagster instance on disk: the multiprocess executor's steps share it."""
    with instance_for_test() as instance:
        yield instance


def materialize_everything(
    tmp_path: Path, instance: DagsterInstance, executor: str, models: dict[str, str] = MODELS
) -> JobExecutionResult:
    """One run of every asset of both components, under ``executor``."""
    with components_sandbox(duckdb_project(tmp_path, models), SPLIT) as sandbox:
        with execute_job(
            asset_job_for_processes(sandbox),
            instance,
            run_config={"execution": {"config": EXECUTORS[executor]}},
        ) as result:
            return result


def ended_within(seconds: float, run: Callable[[], JobExecutionResult]) -> JobExecutionResult:
    """``run()``'s result, failing the test if the run has not ended after ``seconds``.

    A step that waited for a step below its own model would wait for ever: the
    run is made in a thread of its own, so that the test fails instead.
    """
    results: list[JobExecutionResult] = []
    thread = threading.Thread(target=lambda: results.append(run()), daemon=True)
    thread.start()
    thread.join(seconds)
    assert results, f"The run did not end within {seconds} seconds: a step is waiting for ever."
    return results[0]


def executions(instance: DagsterInstance, run_id: str) -> dict[str, list[int]]:
    """Each component's executions in the run, by the ``started`` files of its folder."""
    run_dir = Path(instance.storage_directory()) / "sqlmesh_runs" / run_id
    return {
        component.name: sorted(int(path.stem.rsplit("-", 1)[1]) for path in component.glob("started-*.json"))
        for component in sorted(run_dir.iterdir())
    }


def steps(result: JobExecutionResult, event_type: DagsterEventType) -> set[str]:
    return {event.step_key for event in result.all_events if event.event_type == event_type}


@pytest.mark.parametrize("executor", sorted(EXECUTORS))
def test_a_run_of_two_components_executes_each_once(tmp_path, instance, executor):
    result = materialize_everything(tmp_path, instance, executor)

    assert executions(instance, result.run_id) == {"base": [1], "reports": [1]}
    materialized = {
        event.asset_key: event.materialization.metadata[STATUS].value
        for event in result.get_asset_materialization_events()
    }
    assert materialized == {
        AssetKey(key.split(".")): "evaluated in this run"
        for key in (
            "raw.orders",
            "staging.orders",
            "marts.revenue",
            "reports.order_count",
            "reports.revenue_report",
        )
    }
    # marts.broken fails in base's execution; the report below it is never started nor evaluated.
    assert steps(result, DagsterEventType.STEP_FAILURE) == {"marts__broken"}
    assert "reports__broken_report" not in steps(result, DagsterEventType.STEP_START)
    with duckdb.connect(str(tmp_path / "shop.duckdb"), read_only=True) as connection:
        # The late report read what base built in this run.
        assert connection.sql("SELECT total FROM reports.revenue_report").fetchone() == (15,)
        assert connection.sql("SELECT orders FROM reports.order_count").fetchone() == (2,)
        tables = connection.sql(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'reports'"
        ).fetchall()
    assert ("broken_report",) not in tables


def test_a_chain_across_the_components_executes_each_twice_and_ends(tmp_path, instance):
    """reports.order_count, then base's marts.order_stats, then reports.stats_report: two executions each."""
    result = ended_within(300, lambda: materialize_everything(tmp_path, instance, "in_process", CHAIN))

    assert result.success
    assert executions(instance, result.run_id) == {"base": [1, 2], "reports": [1, 2]}
    with duckdb.connect(str(tmp_path / "shop.duckdb"), read_only=True) as connection:
        assert connection.sql("SELECT doubled FROM reports.stats_report").fetchone() == (4,)
