"""A schedule derived from the SQLMesh models' crons.

SQLMesh decides on its own which models are due: its ``run`` evaluates each
model's elapsed cron intervals and nothing else. So one schedule is enough: it
fires at the most frequent cron of the project and materializes every model
in "run" mode, which is one SQLMesh execution that evaluates what is due and
reports every other model as up to date. The Dagster assets that write
tables SQLMesh reads (an ingestion) run first in the same run, so SQLMesh
reads fresh tables.
"""

from dagster import (
    AssetsDefinition,
    AssetSelection,
    DefaultScheduleStatus,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SkipReason,
    TimeWindowPartitionsDefinition,
    define_asset_job,
    schedule,
)
from sqlmesh.core.node import IntervalUnit

from ..execution.execution import MaterializeMode
from ..project.resource import SQLMeshResource
from ..vocabulary.constants import MODE_TAG, MODEL_OP_TAG
from ..vocabulary.model_graph import is_asset_model


def sqlmesh_schedules(
    sqlmesh: SQLMeshResource,
    assets: list[AssetsDefinition],
    default_status: DefaultScheduleStatus = DefaultScheduleStatus.STOPPED,
) -> list[ScheduleDefinition]:
    """Materialize every SQLMesh asset and what they read, at the most frequent model cron, in "run" mode.

    Stopped by default: locally you start it from the UI (Automation) when you
    want it; a deployment passes ``DefaultScheduleStatus.RUNNING``. A project
    without any model to build has nothing to schedule: the list is empty.
    """
    # The models of these assets: a component with a ``select`` schedules its own models only.
    own = {asset.op.tags.get(MODEL_OP_TAG) for asset in assets if asset.is_executable}
    models = [m for m in sqlmesh.load_definitions().models.values() if is_asset_model(m) and m.fqn in own]
    by_partitions: dict[TimeWindowPartitionsDefinition, list[AssetsDefinition]] = {}
    for asset in assets:
        if isinstance(asset.partitions_def, TimeWindowPartitionsDefinition):
            by_partitions.setdefault(asset.partitions_def, []).append(asset)
    partitioned = [asset for group in by_partitions.values() for asset in group]
    partitioned_models = {asset.op.tags.get(MODEL_OP_TAG) for asset in partitioned}
    models = [m for m in models if m.fqn not in partitioned_models]
    units = [_unit(partitions) for partitions in by_partitions]
    schedules = [
        _partitioned_schedule(
            sqlmesh.name, partitions, group, default_status, units.count(_unit(partitions)) > 1
        )
        for partitions, group in by_partitions.items()
    ]
    if not models:
        return schedules
    most_frequent = min(models, key=lambda model: model.interval_unit.seconds)
    run_job_name = f"{sqlmesh.name}_run"
    job = define_asset_job(
        run_job_name,
        # Upstream of the models: the Dagster assets writing tables they read (external models).
        selection=AssetSelection.assets(*assets).upstream().materializable()
        - AssetSelection.assets(*partitioned),
        tags={MODE_TAG: MaterializeMode.RUN.value},
        description=(
            "Every SQLMesh model, with SQLMesh's run semantics (only missing intervals), "
            "after the Dagster assets writing the tables they read."
        ),
    )
    schedule = ScheduleDefinition(
        name=f"{run_job_name}_schedule",
        job=job,
        cron_schedule=most_frequent.cron,
        execution_timezone=str(most_frequent.cron_tz or "UTC"),
        default_status=default_status,
        description=f"At the most frequent model cron ({most_frequent.cron}, from {most_frequent.name}).",
    )
    return [schedule, *schedules]


def _unit(partitions: TimeWindowPartitionsDefinition) -> str:
    return IntervalUnit.from_cron(partitions.cron_schedule).value


def _partitioned_schedule(
    project: str,
    partitions: TimeWindowPartitionsDefinition,
    assets: list[AssetsDefinition],
    default_status: DefaultScheduleStatus,
    unit_shared: bool,
) -> ScheduleDefinition:
    """The latest complete partition of ``assets``, each time one ends, in "run" mode.

    The job is named by the unit (``sqlmesh_run_by_day``), and by the start as
    well when models of that unit start on different dates (one job each).
    """
    unit = _unit(partitions)
    name = f"{project}_run_by_{unit}"
    if unit_shared:
        name += f"_from_{partitions.start.strftime('%Y%m%d%H%M')}"
    job = define_asset_job(
        name,
        selection=AssetSelection.assets(*assets),
        tags={MODE_TAG: MaterializeMode.RUN.value},
        description=f"The SQLMesh models partitioned by {unit}, for one partition (interval) at a time.",
    )

    @schedule(
        name=f"{name}_schedule",
        job=job,
        cron_schedule=partitions.cron_schedule,
        execution_timezone="UTC",
        default_status=default_status,
        description=f"Each {unit} once it is complete, as SQLMesh's run would evaluate it.",
    )
    def _latest_partition(context: ScheduleEvaluationContext) -> RunRequest | SkipReason:
        # Ticks fall on the partitions' boundaries: the one that just ended holds the moment before.
        moment = context.scheduled_execution_time.timestamp() - 0.001
        if moment < partitions.start.timestamp():
            return SkipReason(f"No {unit} is complete yet since {partitions.start.isoformat()}.")
        return RunRequest(partition_key=partitions.get_partition_key_for_timestamp(moment))

    return _latest_partition
