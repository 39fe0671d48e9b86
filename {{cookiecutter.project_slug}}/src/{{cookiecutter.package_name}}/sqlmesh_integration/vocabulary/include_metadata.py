"""Which optional metadata the assets and their materializations carry: ``include_metadata`` in defs.yaml.

Each kind is made in one place, and each can be turned off where it costs
more than it tells:

- ``row_count`` (``dagster/row_count`` on a materialization): a ``COUNT(*)``
  of each table a run wrote, on SQLMesh's connection
  (:mod:`..execution.outcome_builder`). DuckDB counts a table from its own metadata
  at once, so it is on there. PostgreSQL reads the whole table (0.4 s for
  ten million rows, cached, more when read from disk), and its cheap
  statistics are no count after a write: ``pg_class.reltuples`` stays
  ``-1`` until the table is analyzed, ``pg_stat_user_tables.n_live_tup``
  trails the writing connection by up to its statistics flush and is
  reset by a crash. So on PostgreSQL it is off unless turned on (then it
  is the exact ``COUNT(*)``).
- ``column_schema`` (``dagster/column_schema`` on each asset): the model's
  columns, types and descriptions (:meth:`.SQLMeshTranslator.get_metadata`).
- ``column_lineage`` (``dagster/column_lineage`` on a materialization): the
  columns each column is computed from, as SQLMesh traces them
  (:mod:`..project.definitions_cache` traces, :mod:`..definitions.factory` attaches).
- ``sqlmesh_details`` (on a materialization): what SQLMesh's plan and run
  did, beyond the status, environment and table every materialization
  names: the snapshot version and its physical table, the intervals
  evaluated, the duration, how far an up-to-date model is covered
  (:mod:`..reporting.reporting`).
"""

from dagster import Model
from pydantic import Field

from .constants import (
    COVERED_UNTIL,
    DURATION_S,
    INTERVALS,
    PHYSICAL_TABLE,
    SNAPSHOT_VERSION,
)

ROW_COUNT_OFF_BY_DEFAULT = frozenset({"postgres"})
"""Warehouses (SQLMesh's connection types) where ``COUNT(*)`` reads the whole table: no count unless asked."""

SQLMESH_DETAILS = (SNAPSHOT_VERSION, PHYSICAL_TABLE, INTERVALS, DURATION_S, COVERED_UNTIL)
"""The materialization metadata ``sqlmesh_details`` turns on or off."""


class IncludeMetadata(Model):
    """Each optional kind of metadata, on or off (a key that is no kind is refused)."""

    row_count: bool | None = Field(
        default=None,
        description="Count the rows of each table a run writes (dagster/row_count, an exact COUNT(*)). "
        "Unset: on, except on PostgreSQL, where a count reads the whole table.",
    )
    column_schema: bool = Field(
        default=True,
        description="Each asset's columns, their types and descriptions (dagster/column_schema).",
    )
    column_lineage: bool = Field(
        default=True,
        description="On each materialization, the upstream columns each column is computed from "
        "(dagster/column_lineage), as SQLMesh traces them.",
    )
    sqlmesh_details: bool = Field(
        default=True,
        description="On each materialization, what SQLMesh did: snapshot version, physical table, "
        "intervals evaluated, duration, covered until.",
    )


def counts_rows(row_count: bool | None, warehouse: str) -> bool:
    """Whether to count the rows a run writes: as set, or by ``warehouse`` (SQLMesh's connection type)."""
    if row_count is not None:
        return row_count
    return warehouse not in ROW_COUNT_OFF_BY_DEFAULT
