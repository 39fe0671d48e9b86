"""The Dagster code location: the SQLMesh project (``defs/sqlmesh/defs.yaml``) and the rest.

``defs/`` is loaded by folder, as ``dg`` projects are: each ``defs.yaml`` is a
component (``sqlmesh_integration/component.py``). Beside it,
{%- if not cookiecutter.sqlmesh_project_path %} the Python assets
that write tables SQLMesh reads (``ingestion.py``) and{% endif %} how runs execute.
"""

import gc
import multiprocessing
import os
from pathlib import Path

from dagster import (
    Definitions,
    ExecutorDefinition,
    in_process_executor,
    load_from_defs_folder,
    multiprocess_executor,
)
{% if not cookiecutter.sqlmesh_project_path %}
from .ingestion import revenue_targets
{%- endif %}
from .sqlmesh_integration import SQLMeshResource, with_upstream_conditions
from .warehouse import WarehouseResource

# What a multiprocess run's steps start from: a server process that has imported this module (the
# SQLMesh project loaded), Dagster's command line and its storage, and forks each step from there.
# Started afresh, each step would import and load all of it again: 2.6 times the CPU time and 2.5
# times the wall time of the demo's run (docs/adr/0002). A module not installed (dagster_postgres
# outside a deployment) is skipped by the server.
PRELOADED_FOR_STEPS = [
    __name__,
    "dagster._cli",
    "dagster._core.instance.factory",
    "dagster._core.storage.sqlite_storage",
    "dagster_postgres",
]
STEP_START_METHOD = (
    {"forkserver": {"preload_modules": PRELOADED_FOR_STEPS}}
    if "forkserver" in multiprocessing.get_all_start_methods()  # not on Windows
    else {"spawn": {}}
)

# Every executor is correct; in-process is the default because it loads the
# SQLMesh project once per run and its steps share one process (docs/adr/0002 has
# the measurements). Set DAGSTER_EXECUTOR=multiprocess to run steps apart, or
# celery to run each step on a Celery worker of its own (docs/deployment.md).
EXECUTORS = {
    "in_process": in_process_executor,
    "multiprocess": multiprocess_executor.configured({"start_method": STEP_START_METHOD}),
}


def executor_named(name: str) -> ExecutorDefinition:
    """The executor DAGSTER_EXECUTOR names; dagster-celery's only when asked for, as it is an extra."""
    if name in EXECUTORS:
        return EXECUTORS[name]
    if name == "celery":
        try:
            from dagster_celery import celery_executor
        except ImportError:
            raise RuntimeError(
                "DAGSTER_EXECUTOR=celery needs dagster-celery: install the project with its celery "
                "extra (pip install -e '.[celery]'; docs/deployment.md, \"Steps on other hosts\")."
            ) from None
        # The broker and the result backend every worker listens to (docs/deployment.md).
        return celery_executor.configured(
            {"broker": {"env": "DAGSTER_CELERY_BROKER"}, "backend": {"env": "DAGSTER_CELERY_BACKEND"}}
        )
    known = ", ".join([*EXECUTORS, "celery"])
    raise ValueError(f"DAGSTER_EXECUTOR={name!r} is not an executor here: use one of {known}.")


def load_definitions() -> Definitions:
    """The components of ``defs/``, with the ingestion, the resource it writes with and the executor."""
    components = load_from_defs_folder(path_within_project=Path(__file__).parent)
    # The project named `sqlmesh` (defs/sqlmesh/defs.yaml): the ingestion writes to its warehouse.
    sqlmesh: SQLMeshResource = components.resources["sqlmesh"]
    # With SQLMESH_AUTOMATION=conditions, the ingestion is requested with the models that read it.
    others = Definitions(
        assets=with_upstream_conditions([{% if not cookiecutter.sqlmesh_project_path %}revenue_targets{% endif %}], components),
        resources={"warehouse": WarehouseResource(project_dir=sqlmesh.project_dir, gateway=sqlmesh.gateway)},
        executor=executor_named(os.environ.get("DAGSTER_EXECUTOR", "in_process")),
    )
    return Definitions.merge(components, others)


defs = load_definitions()
# What is built so far lives as long as the process: frozen, the garbage collector no longer
# traverses it in each full collection during a run and at the process's end (through the CLI at
# 200 models, the process ends 0.1 s after the run instead of 1.1 s; docs/adr/0002). What is
# garbage already is collected first.
gc.collect()
gc.freeze()
sqlmesh: SQLMeshResource = defs.resources["sqlmesh"]
"""The SQLMesh project's resource, as the component built it (the tests load the project with it)."""
