"""How runs start on their own: one schedule, or a condition per model from its own cron.

Two ways, one per project (``SQLMESH_AUTOMATION``, docs/adr/0008):

- ``schedule``: the schedules of :mod:`.schedules`. One tick at the most
  frequent model cron runs every model in "run" mode, and SQLMesh evaluates
  what is due. Simple, and every tick is a run, due or not.
- ``conditions``: each model's asset gets an automation condition from its
  SQLMesh cron (:meth:`.SQLMeshTranslator.get_automation_condition`), and one
  automation sensor evaluates them. Only due models are requested; those due
  at the same tick are requested together, so they are one run, hence one
  SQLMesh execution (one per partition for partitioned models, as with the
  schedules). The Dagster assets writing tables the models read get the most
  frequent cron of their readers, so they run first in the same run, as the
  schedule's job does. The trade-off is in docs/adr/0008.

Either way nothing starts until you turn it on in the UI (Automation), or a
deployment passes a running default status.
"""

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from dagster import (
    AssetKey,
    AssetsDefinition,
    AutomationConditionSensorDefinition,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    ScheduleDefinition,
    SensorDefinition,
)
from sqlmesh.core.model import Model

from .resource import MaterializeMode, SQLMeshResource
from .run_results import MODE_TAG
from .schedules import sqlmesh_schedules
from .selection import MODEL_OP_TAG
from .translator import SQLMeshTranslator, due_at_cron

AUTOMATION_SENSOR_NAME = "sqlmesh_automation_sensor"


class Automation(enum.Enum):
    """The setting ``SQLMESH_AUTOMATION``: what starts runs on their own."""

    SCHEDULE = "schedule"
    CONDITIONS = "conditions"

    @classmethod
    def parse(cls, value: str) -> "Automation":
        """The setting from its text, or an error that names the value and the choices."""
        try:
            return cls(value.strip().lower())
        except ValueError:
            choices = " or ".join(f"'{member.value}'" for member in cls)
            raise ValueError(
                f"SQLMESH_AUTOMATION is {value!r}; it must be {choices} (see the README's settings)."
            ) from None


@dataclass(frozen=True)
class AutomatedDefinitions:
    """The assets to define (with their conditions, if any), and the schedules and sensors that start runs."""

    assets: list[AssetsDefinition]
    schedules: list[ScheduleDefinition]
    sensors: list[SensorDefinition]


def sqlmesh_automation(
    sqlmesh: SQLMeshResource,
    assets: Sequence[AssetsDefinition],
    automation: Automation | str = Automation.SCHEDULE,
    upstream: Sequence[AssetsDefinition] = (),
    translator: SQLMeshTranslator | None = None,
    running: bool = False,
) -> AutomatedDefinitions:
    """The definitions that start runs on their own, for ``assets`` of :func:`.sqlmesh_assets`.

    ``upstream`` are the project's other assets (those writing tables the models
    read); they are returned with the SQLMesh ones, a condition added in
    "conditions" mode when they have none of their own. ``running`` starts the
    schedules or the sensor as soon as the code location loads (deployments).
    """
    automation = Automation.parse(automation) if isinstance(automation, str) else automation
    if automation is Automation.SCHEDULE:
        status = DefaultScheduleStatus.RUNNING if running else DefaultScheduleStatus.STOPPED
        schedules = sqlmesh_schedules(sqlmesh, list(assets), status)
        return AutomatedDefinitions(assets=[*assets, *upstream], schedules=schedules, sensors=[])
    translator = translator or SQLMeshTranslator()
    models = sqlmesh.load_definitions().models
    conditioned = [_with_model_condition(asset, models, translator) for asset in assets]
    models_by_key = {
        key: models[asset.op.tags[MODEL_OP_TAG]]
        for asset in assets
        if asset.is_executable and MODEL_OP_TAG in asset.op.tags
        for key in asset.keys
    }
    readers = [_with_readers_cron(asset, conditioned, models_by_key) for asset in upstream]
    automated = [asset for asset in [*conditioned, *readers] if _has_condition(asset)]
    if not automated:
        return AutomatedDefinitions(assets=[*conditioned, *readers], schedules=[], sensors=[])
    sensor = AutomationConditionSensorDefinition(
        AUTOMATION_SENSOR_NAME,
        target=automated,
        # The same semantics as the schedule: SQLMesh evaluates the intervals that are due.
        run_tags={MODE_TAG: MaterializeMode.RUN.value},
        default_status=DefaultSensorStatus.RUNNING if running else DefaultSensorStatus.STOPPED,
        description="Requests each SQLMesh model at its own cron, together with what is due with it.",
    )
    return AutomatedDefinitions(assets=[*conditioned, *readers], schedules=[], sensors=[sensor])


def _with_model_condition(
    asset: AssetsDefinition, models: dict[str, Model], translator: SQLMeshTranslator
) -> AssetsDefinition:
    fqn = asset.op.tags.get(MODEL_OP_TAG) if asset.is_executable else None
    if fqn is None or not asset.keys:
        return asset  # the checks of sources and standalone audits: they run with what they check
    condition = translator.get_automation_condition(models[fqn])
    return asset if condition is None else asset.with_attributes(automation_condition=condition)


def _with_readers_cron(
    asset: AssetsDefinition, conditioned: Sequence[AssetsDefinition], models_by_key: dict[AssetKey, Model]
) -> AssetsDefinition:
    """``asset`` on the most frequent cron of the models reading it, unless it has a condition of its own."""
    if _has_condition(asset) or not asset.is_executable:
        return asset
    readers = [
        models_by_key[key]
        for sqlmesh_asset in conditioned
        for key in sqlmesh_asset.keys
        if key in models_by_key
        and _has_condition(sqlmesh_asset)
        and set(asset.keys) & set(sqlmesh_asset.asset_deps.get(key, ()))
    ]
    if not readers:
        return asset
    most_frequent = min(readers, key=lambda model: model.interval_unit.seconds)
    condition = due_at_cron(most_frequent.cron, str(most_frequent.cron_tz or "UTC"))
    return asset.with_attributes(automation_condition=condition)


def _has_condition(asset: AssetsDefinition) -> bool:
    return any(spec.automation_condition is not None for spec in asset.specs)
