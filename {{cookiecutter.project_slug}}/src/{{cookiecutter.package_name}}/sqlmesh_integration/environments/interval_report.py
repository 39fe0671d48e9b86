"""Bring intervals SQLMesh filled outside Dagster into Dagster's view, evaluating nothing.

A partitioned asset's partitions are green in Dagster once a Dagster run
reported them. Intervals filled by ``sqlmesh run`` or ``sqlmesh plan`` from a
terminal are in SQLMesh's state only. The job defined here reads that state
and records each such partition as materialized, with a note that SQLMesh
filled it outside Dagster; it runs no model and no audit.
"""

from contextlib import closing

from dagster import (
    AssetMaterialization,
    AssetsDefinition,
    JobDefinition,
    OpExecutionContext,
    TimeWindowPartitionsDefinition,
    job,
    op,
)
from sqlmesh.utils.date import now

from ..execution.selection import project_of
from ..project.resource import SQLMeshResource
from ..vocabulary.constants import MODEL_OP_TAG, SNAPSHOT_VERSION, STATUS
from ..vocabulary.partitions import TimeRange, filled_partition_keys


def sqlmesh_interval_report_jobs(assets: list[AssetsDefinition]) -> list[JobDefinition]:
    """The report job, if any SQLMesh asset is partitioned; none otherwise.

    The job requires the ``sqlmesh`` resource (a :class:`SQLMeshResource`).
    """
    partitioned = {
        asset.op.tags[MODEL_OP_TAG]: (asset.key, asset.partitions_def)
        for asset in assets
        if MODEL_OP_TAG in asset.op.tags and isinstance(asset.partitions_def, TimeWindowPartitionsDefinition)
    }
    if not partitioned:
        return []

    name = project_of(assets)

    @op(name=f"report_{name}_intervals", required_resource_keys={name})
    def report(context: OpExecutionContext) -> None:
        """Record as materialized each partition whose interval SQLMesh holds and Dagster does not."""
        sqlmesh: SQLMeshResource = getattr(context.resources, name)
        sqlmesh_context = sqlmesh.load_context()
        coordination = sqlmesh.coordination(sqlmesh_context, context.run.run_id, context.log.info)
        # Others cannot open the DuckDB file while it is open: closed before its lock is released.
        with coordination, coordination.warehouse(), closing(sqlmesh_context):
            environment = sqlmesh_context.state_reader.get_environment(sqlmesh.environment)
            deployed = {s.name: s.snapshot_id for s in environment.snapshots} if environment else {}
            wanted = [deployed[fqn] for fqn in partitioned if fqn in deployed]
            snapshots = {s.name: s for s in sqlmesh_context.state_reader.get_snapshots(wanted).values()}
        reported = 0
        for fqn, (key, partitions) in sorted(partitioned.items()):
            snapshot = snapshots.get(fqn)
            if snapshot is None:
                context.log.info(f"{fqn} is not deployed to '{sqlmesh.environment}': nothing to report.")
                continue
            everything = TimeRange(partitions.start, now())
            filled = filled_partition_keys(partitions, [tuple(i) for i in snapshot.intervals], everything)
            known = context.instance.get_materialized_partitions(key)
            missing = [partition for partition in filled if partition not in known]
            for partition in missing:
                context.log_event(
                    AssetMaterialization(
                        asset_key=key,
                        partition=partition,
                        metadata={
                            STATUS: "filled by SQLMesh outside Dagster; reported from its state",
                            SNAPSHOT_VERSION: snapshot.version,
                        },
                    )
                )
            context.log.info(
                f"{fqn}: SQLMesh holds {len(filled)} partition(s); {len(missing)} were not in Dagster's view "
                "and are now reported."
            )
            gone = sorted(set(known) - set(filled))
            if gone:
                context.log.warning(
                    f"{fqn}: Dagster shows {len(gone)} partition(s) as materialized that SQLMesh's state no "
                    f"longer holds (restated or removed outside Dagster), from {gone[0]} to {gone[-1]}. "
                    "Materialize them to fill them again."
                )
            reported += len(missing)
        context.log.info(f"Reported {reported} partition(s) filled outside Dagster; nothing was evaluated.")

    @job(
        name=f"{name}_report_intervals",
        description=(
            "Record in Dagster the partitions SQLMesh filled outside it (sqlmesh run from a terminal), "
            "from SQLMesh's state. Evaluates nothing."
        ),
    )
    def report_job() -> None:
        report()

    return [report_job]
