"""Dagster integration for SQLMesh, vendored into this project so you own it.

- :mod:`.translator`: how SQLMesh names become Dagster names;
- :mod:`.factory`: one asset per model, audits as asset checks;
- :mod:`.project`: what the definitions need from the project, cached by its content;
- :mod:`.resource`: loading and executing the SQLMesh project;
- :mod:`.selection`: what a run asks of SQLMesh (models to materialize, audits to report);
- :mod:`.run_results`: one SQLMesh execution per Dagster run, shared by its steps;
- :mod:`.partitions`: SQLMesh intervals as Dagster time partitions, for the models that ask;
- :mod:`.interval_report`: a job that records intervals SQLMesh filled outside Dagster;
- :mod:`.environments`: jobs that report the plan for an environment and promote it;
- :mod:`.schedules`: a schedule derived from the models' crons, one per partitions definition;
- :mod:`.component`: the Dagster component a ``defs.yaml`` declares a SQLMesh project with;
- :mod:`.automation`: the schedules, or instead a condition per model from its cron and one sensor;
- :mod:`.isolation`: SQLMesh executed in a forked child, so a dead execution fails cleanly;
- :mod:`.event_capture`: what SQLMesh reports while it executes;
- :mod:`.diagnostics`: readable messages for a broken project (which file, what is wrong);
- :mod:`.outcomes`: the per-model results that cross process boundaries.
"""

from .automation import (
    AutomatedDefinitions,
    Automation,
    sqlmesh_automation,
    with_upstream_conditions,
)
from .component import SQLMeshProjectComponent
from .constants import MODE_TAG
from .environments import PlanReport, build_plan, sqlmesh_environment_jobs
from .execution import MaterializeMode, SQLMeshExecution
from .factory import sqlmesh_assets
from .interval_report import sqlmesh_interval_report_jobs
from .partitions import PARTITIONED_TAG, UNPARTITIONED_TAG, PartitioningError
from .resource import SQLMeshResource
from .run_results import SQLMeshRunResults
from .schedules import sqlmesh_schedules
from .translator import AuditIdentity, SQLMeshTranslator, is_asset_model

__all__ = [
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
