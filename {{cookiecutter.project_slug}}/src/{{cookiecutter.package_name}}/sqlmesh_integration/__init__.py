"""Dagster integration for SQLMesh, vendored into this project so you own it.

Sub-packages, one per layer, from the top down; each imports only the
layers below it (ADR 12):

- :mod:`.definitions`: the Dagster definitions (asset specs, assets and
  checks, schedules, automation), built when the code location loads;
- :mod:`.environments`: jobs that report the plan for an environment, promote
  it, and record intervals SQLMesh filled outside Dagster;
- :mod:`.reporting`: a model's outcome as Dagster events;
- :mod:`.runs`: one execution per run (ADR 2) shared by its steps, and runs
  beside each other (ADR 11);
- :mod:`.project`: the SQLMesh project as loaded, and the resource that opens
  executions on it;
- :mod:`.execution`: one SQLMesh execution, from the plan to each model's outcome;
- :mod:`.vocabulary`: the keys, tags and plain data every layer shares.

Above them all, :mod:`.component` (the component a ``defs.yaml`` declares) and
:mod:`.scaffolding` (``dg scaffold defs`` for it) put the layers together.
What this module exports is the integration's public API.

Its version is ``__version__``; CHANGELOG.md beside this file says what each version changed and
what to do when you take it (README, "Updating from the template").
"""

from .component import SQLMeshProjectComponent
from .definitions.automation import (
    AutomatedDefinitions,
    Automation,
    sqlmesh_automation,
    with_upstream_conditions,
)
from .definitions.factory import sqlmesh_assets
from .definitions.schedules import sqlmesh_schedules
from .definitions.translator import SQLMeshTranslator
from .environments.environments import build_plan, sqlmesh_environment_jobs
from .environments.interval_report import sqlmesh_interval_report_jobs
from .environments.plan_report import PlanReport
from .execution.execution import MaterializeMode, SQLMeshExecution
from .project.resource import SQLMeshResource
from .runs.run_results import SQLMeshRunResults
from .vocabulary.audits import AuditIdentity
from .vocabulary.constants import MODE_TAG
from .vocabulary.model_graph import is_asset_model
from .vocabulary.partitions import PARTITIONED_TAG, UNPARTITIONED_TAG, PartitioningError

__version__ = "1.3.3"

__all__ = [
    "__version__",
    "AutomatedDefinitions",
    "Automation",
    "AuditIdentity",
    "MODE_TAG",
    "MaterializeMode",
    "PARTITIONED_TAG",
    "PlanReport",
    "PartitioningError",
    "SQLMeshProjectComponent",
    "SQLMeshExecution",
    "SQLMeshResource",
    "SQLMeshRunResults",
    "SQLMeshTranslator",
    "UNPARTITIONED_TAG",
    "build_plan",
    "is_asset_model",
    "sqlmesh_assets",
    "sqlmesh_automation",
    "with_upstream_conditions",
    "sqlmesh_environment_jobs",
    "sqlmesh_interval_report_jobs",
    "sqlmesh_schedules",
]
