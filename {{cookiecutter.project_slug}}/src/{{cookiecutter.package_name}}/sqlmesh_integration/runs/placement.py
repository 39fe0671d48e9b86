"""Where a run's steps execute, and so where they find the run's SQLMesh execution.

The steps of a run share one SQLMesh execution through a store (:mod:`.store`).
Under Dagster's own executors every step is on the run's host, and the store is
files of the instance's storage. The executors that run each step in a container
or worker of its own share nothing but the databases, so under them the store is
SQLMesh's state database, which must then be PostgreSQL; and the warehouse must
not be a DuckDB file, which no other host can open. A step checks this before it
claims or starts anything, and fails saying what to use instead.

No setting is needed for the executors known here. An executor of a team's own
that puts steps on other hosts sets ``run_store: state_database``.
"""

from enum import Enum

from dagster import Failure
from sqlmesh.core.config import ConnectionConfig

from .postgres_store import postgres_store
from .store import FILES, RunStore

STEPS_ON_THE_RUNS_HOST = frozenset({"in_process", "multiprocess"})
"""Executors whose steps all run in the run worker's process or its children."""

STEPS_ON_OTHER_HOSTS = {
    "k8s": "dagster-k8s's k8s_job_executor",
    "docker": "dagster-docker's docker_executor",
    "celery": "dagster-celery's celery_executor",
    "celery-k8s": "dagster-celery-k8s's celery_k8s_job_executor",
    "celery-docker": "dagster-celery-docker's celery_docker_executor",
}
"""Executors, by the name Dagster gives them, that run each step in a container or worker of its own."""

_WHAT_TO_DO = 'docs/deployment.md, "Steps on other hosts"'


class RunStoreSetting(Enum):
    """Where a run's steps find its SQLMesh execution (the ``run_store`` setting)."""

    AUTO = "auto"
    """The state database under an executor of ``STEPS_ON_OTHER_HOSTS``, files otherwise."""
    STATE_DATABASE = "state_database"
    """SQLMesh's PostgreSQL state, whatever the executor."""


def run_store(
    executor_name: str,
    setting: RunStoreSetting,
    warehouse: ConnectionConfig,
    state: ConnectionConfig,
    state_schema: str | None,
) -> RunStore:
    """The store the steps of a run share, or the failure that says why there is none.

    ``warehouse`` and ``state``: the gateway's connections, as SQLMesh reads them.
    """
    elsewhere = executor_name in STEPS_ON_OTHER_HOSTS
    if elsewhere and warehouse.type_ == "duckdb":
        raise steps_elsewhere_failure(executor_name)
    if not elsewhere and setting is RunStoreSetting.AUTO:
        return FILES
    if state.type_ != "postgres":
        raise state_not_shared_failure(executor_name, state.type_)
    return postgres_store(state, state_schema or "sqlmesh")


def steps_elsewhere_failure(executor_name: str) -> Failure:
    """The failure of a step whose run puts steps on other hosts while the warehouse is a DuckDB file.

    Not retried: a retry lands on another host just the same.
    """
    return Failure(
        f"This run's executor, {_executor(executor_name)}, runs each step on a host of its own, and "
        "this project's warehouse is a DuckDB file, which only one host can open. Use the multiprocess "
        "or in_process executor (DAGSTER_EXECUTOR) with a run launcher that runs a whole run in one "
        f"container, or a PostgreSQL warehouse and state ({_WHAT_TO_DO}).",
        allow_retries=False,
    )


def state_not_shared_failure(executor_name: str, state_engine: str) -> Failure:
    """The failure of a step that must share the run's execution through a state that is not PostgreSQL."""
    why = (
        f"This run's executor, {_executor(executor_name)}, runs each step on a host of its own"
        if executor_name in STEPS_ON_OTHER_HOSTS
        else "This project's run_store is 'state_database'"
    )
    return Failure(
        f"{why}: the steps of a run then share one SQLMesh execution through SQLMesh's state "
        f"database, which must be PostgreSQL, and this project's state is on {state_engine}. Keep "
        "SQLMesh's state in PostgreSQL (the gateway's state_connection in config.py), or use the "
        f"multiprocess or in_process executor (DAGSTER_EXECUTOR) ({_WHAT_TO_DO}).",
        allow_retries=False,
    )


def _executor(name: str) -> str:
    return f"{STEPS_ON_OTHER_HOSTS[name]} ('{name}')"
