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
    ScheduleDefinition,
    define_asset_job,
)

from .resource import MaterializeMode, SQLMeshResource
from .run_results import MODE_TAG
from .translator import is_asset_model

RUN_JOB_NAME = "sqlmesh_run"


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
    models = [m for m in sqlmesh.load_definitions().models.values() if is_asset_model(m)]
    if not models:
        return []
    most_frequent = min(models, key=lambda model: model.interval_unit.seconds)
    job = define_asset_job(
        RUN_JOB_NAME,
        # Upstream of the models: the Dagster assets writing tables they read (external models).
        selection=AssetSelection.assets(*assets).upstream().materializable(),
        tags={MODE_TAG: MaterializeMode.RUN.value},
        description=(
            "Every SQLMesh model, with SQLMesh's run semantics (only missing intervals), "
            "after the Dagster assets writing the tables they read."
        ),
    )
    schedule = ScheduleDefinition(
        name=f"{RUN_JOB_NAME}_schedule",
        job=job,
        cron_schedule=most_frequent.cron,
        execution_timezone=str(most_frequent.cron_tz or "UTC"),
        default_status=default_status,
        description=f"At the most frequent model cron ({most_frequent.cron}, from {most_frequent.name}).",
    )
    return [schedule]
