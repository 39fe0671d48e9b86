"""Steps on other hosts: dagster-celery's executor, two workers, one SQLMesh execution per run.

Real Celery workers of the PostgreSQL bake, each with a Dagster home and a
working folder of its own, sharing only the PostgreSQL server (Dagster's
instance storage, the warehouse and SQLMesh's state) and a Redis broker, as
workers on two hosts would. Each step of a run is a Celery task. The steps
find the run's execution in SQLMesh's state (``dagster_run_executions``),
never in files, and the owner's liveness through a PostgreSQL session lock.
"""

import os
import shutil
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from helpers.celery_workers import Worker, celery_workers
from helpers.concurrency import start_probe
from helpers.demo_outcomes import (
    assert_first_demo_run,
    evaluated,
    mart_rows,
    on_one_utc_day,
    step,
)
from helpers.project import TEMPLATE_BIN, InstalledProject, Scratch, run
from helpers.sample_expectations import EXPECTED_EVALUATED_DEMO, EXPECTED_FAILED

pytestmark = pytest.mark.e2e

BAD_CAST_ERROR = 'invalid input syntax for type integer: "completed"'
OWNER_GONE = "stopped before it ended its execution"


@pytest.fixture(scope="module")
def celery_project(postgres_project) -> InstalledProject:
    """The PostgreSQL bake with its celery extra (dagster-celery, Redis's client)."""
    environment = {**os.environ, "PATH": f"{TEMPLATE_BIN}{os.pathsep}{os.environ['PATH']}"}
    run(
        ["uv", "pip", "install", "--quiet", "-e", ".[dev,deploy,celery]"],
        postgres_project.root,
        {**environment, "VIRTUAL_ENV": str(postgres_project.root / ".venv")},
    )
    return postgres_project


@contextmanager
def deployment(
    project: InstalledProject, postgres, redis: str, root: Path, sqlmesh_project: Path | None = None
) -> Iterator[tuple[Scratch, list[Worker]]]:
    """Fresh databases, a launcher's Dagster home and two workers, all configured as a deployment is.

    The run is launched from ``root`` (``dagster_probe.py``, a real ``execute_job``); its
    executor hands every step to the workers.
    """
    scratch = project.scratch(root / "launcher", executor="celery")
    if sqlmesh_project is not None:
        scratch.sqlmesh_project = sqlmesh_project
    scratch.postgres = postgres.recreate("celery_warehouse")
    scratch.extra_env = {
        **postgres.dagster_env(_recreate(postgres, "celery_dagster")),
        "DAGSTER_CELERY_BROKER": f"{redis}/0",
        "DAGSTER_CELERY_BACKEND": f"{redis}/1",
    }
    # Dagster's storage in PostgreSQL, as deploy/dagster.yaml configures a deployment.
    shutil.copy(project.root / "deploy" / "dagster.yaml", scratch.dagster_home / "dagster.yaml")
    env = {name: value for name, value in scratch.env().items() if name != "DAGSTER_HOME"}
    with celery_workers(project, env, root, redis) as workers:
        yield scratch, workers


def _recreate(postgres, database: str) -> str:
    postgres.recreate(database)
    return database


def executions_recorded(scratch: Scratch, run_id: str) -> list:
    """The run's executions as SQLMesh's state records them: (number, owner's pid)."""
    return scratch.query(
        "SELECT number, owner_pid FROM sqlmesh.dagster_run_executions "
        f"WHERE run_id = '{run_id}' ORDER BY number"
    )


def test_a_run_of_every_demo_asset_executes_sqlmesh_once_across_two_workers(
    postgres, redis, celery_project, tmp_path_factory
):
    def first_run():
        root = tmp_path_factory.mktemp("celery-run")
        with deployment(celery_project, postgres, redis, root) as (scratch, workers):
            result = scratch.materialize()
            return root, scratch, workers, result, mart_rows(scratch)

    root, scratch, workers, result, rows = on_one_utc_day(first_run)

    # The in-process run's outcomes, model by model and check by check (test_postgres), and one execution.
    assert_first_demo_run(result, rows, BAD_CAST_ERROR, counts_rows=False)
    assert len(executions_recorded(scratch, result["run_id"])) == 1
    # Both workers executed steps; the steps shared the execution through the state, not through files.
    assert all(worker.executed_steps() > 0 for worker in workers), [w.executed_steps() for w in workers]
    assert not list(root.rglob("sqlmesh_runs")), "the steps shared the execution through files"


def test_a_killed_owner_fails_the_waiting_steps_by_name_and_the_next_run_succeeds(
    postgres, redis, celery_project, tmp_path
):
    with deployment(celery_project, postgres, redis, tmp_path) as (scratch, workers):
        started = start_probe(scratch)
        owner = _owner_once_claimed(scratch, started)
        # The owner is a step of a worker's pool, not the process that launched the run.
        assert owner in set().union(*(worker.pool_processes() for worker in workers))
        os.kill(owner, signal.SIGKILL)
        killed = started.result()
        again = scratch.materialize()

    assert killed["status"] == "FAILURE"
    owner_gone = {key: text for key, text in killed["failures"].items() if OWNER_GONE in text}
    # Every step still waiting for the execution failed saying whose process stopped, and nothing
    # else failed: the killed step's own task failed in Celery (its process is gone).
    assert owner_gone and set(owner_gone) == set(killed["failures"]), killed["failures"]
    assert all(f"(pid {owner} on " in text for text in owner_gone.values()), owner_gone

    # The next run executes SQLMesh once and evaluates what the killed one did not, each model once.
    assert again["executions"] == 1 and again["lock_errors"] == 0
    assert {s for s, status in again["steps"].items() if status == "STEP_FAILURE"} == {
        step(model) for model in EXPECTED_FAILED
    }
    assert not set(evaluated(killed)) & set(evaluated(again))
    assert set(evaluated(killed)) | set(evaluated(again)) == EXPECTED_EVALUATED_DEMO
    assert [number for number, _ in executions_recorded(scratch, again["run_id"])] == [1]


def _owner_once_claimed(scratch: Scratch, started, timeout: float = 120) -> int:
    """The owner's pid, as soon as a step of the run has claimed its execution."""
    deadline = time.monotonic() + timeout
    table_exists = False
    while time.monotonic() < deadline:
        assert started.process.poll() is None, "the run ended before any step claimed an execution"
        table_exists = table_exists or scratch.query(
            "SELECT to_regclass('sqlmesh.dagster_run_executions') IS NOT NULL"
        ) == [[True]]
        if table_exists and (rows := scratch.query("SELECT owner_pid FROM sqlmesh.dagster_run_executions")):
            return rows[0][0]
        time.sleep(0.1)
    raise AssertionError(f"no step claimed an execution within {timeout} s")


def test_a_duckdb_warehouse_is_refused_at_run_start_naming_the_executor(
    postgres, redis, celery_project, tmp_path
):
    """The same bake pointed at a DuckDB warehouse (a copy of its SQLMesh project, config.py changed)."""
    on_duckdb = tmp_path / "sqlmesh_project"
    shutil.copytree(
        celery_project.root / "sqlmesh_project", on_duckdb, ignore=shutil.ignore_patterns(".cache")
    )
    (on_duckdb / "config.py").write_text(DUCKDB_CONFIG)
    with deployment(celery_project, postgres, redis, tmp_path, sqlmesh_project=on_duckdb) as (scratch, _):
        result = scratch.materialize()

    assert result["status"] == "FAILURE" and result["executions"] == 0
    sqlmesh_failures = {
        key: text for key, text in result["failures"].items() if key != "landing__revenue_targets"
    }
    assert sqlmesh_failures, result["failures"]
    for text in sqlmesh_failures.values():
        assert (
            "This run's executor, dagster-celery's celery_executor ('celery'), runs each step on a host"
            in text
        )
        assert "a DuckDB file, which only one host can open" in text
    assert evaluated(result) == {}
    assert not list(tmp_path.rglob("sqlmesh_runs")), "a step claimed an execution before refusing"


DUCKDB_CONFIG = """\
from sqlmesh.core.config import Config, DuckDBConnectionConfig, GatewayConfig, ModelDefaultsConfig

config = Config(
    gateways={"local": GatewayConfig(connection=DuckDBConnectionConfig(database="warehouse.duckdb"))},
    default_gateway="local",
    model_defaults=ModelDefaultsConfig(dialect="duckdb", start="2024-01-01"),
    disable_anonymized_analytics=True,
)
"""
