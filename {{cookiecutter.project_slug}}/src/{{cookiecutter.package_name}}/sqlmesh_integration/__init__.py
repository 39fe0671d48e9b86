"""Dagster integration for SQLMesh, vendored into this project so you own it.

Definitions (built when the code location loads):

- :mod:`.component`: the Dagster component a ``defs.yaml`` declares a SQLMesh project with;
- :mod:`.scaffolding`: ``dg scaffold defs`` for the component (and ``sqlmesh init`` with ``--init``);
- :mod:`.translator`: how SQLMesh names become Dagster names, and each model's whole asset spec;
- :mod:`.include_metadata`: which optional metadata (row counts, columns, lineage) assets carry;
- :mod:`.factory`: one asset per model, audits as asset checks;
- :mod:`.definitions_cache`: what the definitions need from the project, cached by its content;
- :mod:`.partitions`: SQLMesh intervals as Dagster time partitions, for the models that ask;
- :mod:`.schedules`, :mod:`.automation`: schedules from the models' crons, or a condition per model;
- :mod:`.environments`: jobs that report the plan for an environment and promote it;
- :mod:`.interval_report`: a job that records intervals SQLMesh filled outside Dagster;
- :mod:`.constants`: every metadata key and tag, in one place.

A run, in the order it goes through them (one SQLMesh execution per run, see ADR 2):

- :mod:`.run_results`: the resource each step asks for its own model's outcome;
- :mod:`.selection`: what the run asks of SQLMesh (models to materialize, audits to report);
- :mod:`.claims`: which execution of the run covers a model; claiming a new one;
- :mod:`.ownership`: starting an execution in a child (:mod:`.isolation`), watching it, waiting for it;
- :mod:`.resource`: the project's settings, its loaded context, its gateway's connection;
- :mod:`.sqlmesh_config`: the SQLMesh config, relative paths read from the project folder, as the CLI;
- :mod:`.execution`: one SQLMesh execution as one object, from plan to outcomes;
- :mod:`.planning`, :mod:`.auditing`: the plan and its retry rules; audits that evaluate nothing;
- :mod:`.event_capture`: what SQLMesh reports while it executes;
- :mod:`.outcome_builder`, :mod:`.outcomes`: each model's outcome, built in one place, as plain data;
- :mod:`.execution_stream`: the execution as a stream of typed events in a file;
- :mod:`.following`: a step reading the stream until its model's outcome is there;
- :mod:`.reporting`: an outcome as Dagster events;
- :mod:`.pruning`: old runs' result folders;
- :mod:`.model_graph`, :mod:`.diagnostics`: the model graph; readable messages for a broken project.

Its version is ``__version__``; CHANGELOG.md beside this file says what each version changed and
what to do when you take it (README, "Updating from the template").
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

__version__ = "1.0.0"

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
