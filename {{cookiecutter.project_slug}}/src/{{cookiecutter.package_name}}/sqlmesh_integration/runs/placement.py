"""Where a run's steps execute: on the run's own host, or each on a host of its own.

A run's steps share its SQLMesh execution through files of the Dagster instance's
storage and check that the process that started it is alive (:mod:`.run_results`),
so every step of a run must be on one host. The executors that run each step in a
container or worker of its own cannot give that: under them, each step would start
SQLMesh again. A step refuses to start under one of them, before it claims or starts
anything, rather than execute SQLMesh once per host.
"""

from dagster import Failure

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


def steps_elsewhere_failure(executor_name: str, warehouse: str) -> Failure:
    """The failure of a step whose run's executor (one of ``STEPS_ON_OTHER_HOSTS``) puts steps elsewhere.

    ``warehouse`` is the SQLMesh gateway's engine (``duckdb``, ``postgres``...), named in
    the message because a DuckDB file cannot be shared between hosts at all. Not retried:
    a retry lands on another host just the same.
    """
    why = (
        "and a DuckDB warehouse is one file on one host"
        if warehouse == "duckdb"
        else "so each would start SQLMesh again"
    )
    return Failure(
        f"This run's executor, {STEPS_ON_OTHER_HOSTS[executor_name]} ('{executor_name}'), runs each step "
        "on a host of its own, but the steps of a run share one SQLMesh execution through files on "
        f"one host, {why}. Use the multiprocess or in_process executor (DAGSTER_EXECUTOR), with a run "
        "launcher that runs a whole run in one container (docs/deployment.md, "
        '"Steps on other hosts").',
        allow_retries=False,
    )
