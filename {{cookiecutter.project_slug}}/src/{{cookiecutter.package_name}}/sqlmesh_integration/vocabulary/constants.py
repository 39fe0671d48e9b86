"""Every metadata key and tag the integration writes or reads, in one place.

Dagster shows these names in the UI, tests and sensors read them, and a
team's own code may too: a name changed here changes everywhere it is used.
Keys under ``dagster/`` are Dagster's own (the UI gives them a meaning);
keys under ``sqlmesh/`` are this integration's.
"""

DEFAULT_PROJECT_NAME = "sqlmesh"
"""The name of a project whose resource or component names none."""

# Tags of a run and of the ops that execute SQLMesh.
MODE_TAG = "sqlmesh/mode"
"""Run tag: what materializing means for this run ('run' or 'restate')."""
MODEL_OP_TAG = "sqlmesh/model"
"""Op tag: the fully qualified name of the model (or source) whose asset the op builds."""
PROJECT_OP_TAG = "sqlmesh/project"
"""Op tag: the name of the SQLMesh project an op executes (the resource's ``name``)."""
STANDALONE_AUDIT_OP_TAG = "sqlmesh/standalone_audit"
"""Op tag: the standalone audit whose checks the op reports."""
PRIORITY_TAG = "dagster/priority"
"""Dagster's step priority: of ready steps, the higher runs first."""
SQLMESH_OP_TAGS = {PRIORITY_TAG: "-1"}
"""Tags of every op that executes SQLMesh: Dagster's executors start a run's other ready
steps (an ingestion asset SQLMesh reads) before them, so that SQLMesh, started once, reads
what they write."""

# Definition metadata of assets and checks.
MODEL_NAME = "sqlmesh/model_name"
KIND = "sqlmesh/kind"
CRON_METADATA = "sqlmesh/cron"
"""A model's cron: what automation and the schedules go by."""
AUDIT_METADATA = "sqlmesh/audit"
"""Check metadata: the SQLMesh audit a check reports."""
AUDIT_ARGS_METADATA = "sqlmesh/audit_args"
"""Check metadata: the audit's arguments as SQL (which use of the audit the check reports)."""

# Metadata of materializations and failures.
STATUS = "sqlmesh/status"
SNAPSHOT_VERSION = "sqlmesh/snapshot_version"
PHYSICAL_TABLE = "sqlmesh/physical_table"
ENVIRONMENT = "sqlmesh/environment"
DURATION_S = "sqlmesh/duration_s"
INTERVALS = "sqlmesh/intervals"
COVERED_UNTIL = "sqlmesh/covered_until"
AUDITS_NOT_SELECTED = "sqlmesh/audits_not_selected"
MODEL_FILE = "sqlmesh/model_file"
ERROR = "sqlmesh/error"
PARTITIONS_NOT_FILLED = "sqlmesh/partitions_not_filled"
WAITED_FOR = "sqlmesh/waited_for"
"""The execution (its Dagster run) whose lock on the model this run waited for before evaluating it:
when it says up to date, that run evaluated it (see execution/coordination.py)."""
NOTHING_TO_FILL = "sqlmesh/nothing_to_fill"
"""Partitions of a run's range outside the model's own range (before its start, after its end)."""

# Metadata of the plan and promotion jobs.
PLAN = "sqlmesh/plan"
MODELS_CHANGED = "sqlmesh/models_changed"
INTERVALS_TO_EVALUATE = "sqlmesh/intervals_to_evaluate"
INTERVALS_EVALUATED = "sqlmesh/intervals_evaluated"

# Dagster's own keys, with the meaning the UI gives them.
TABLE_NAME = "dagster/table_name"
ROW_COUNT = "dagster/row_count"
COLUMN_SCHEMA = "dagster/column_schema"
COLUMN_LINEAGE = "dagster/column_lineage"
