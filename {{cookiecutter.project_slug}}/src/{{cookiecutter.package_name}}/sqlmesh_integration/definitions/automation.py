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
  schedules). The Dagster assets writing tables the models read get the
  condition of their most frequent reader (:func:`with_upstream_conditions`),
  so they run first in the same run, as in the schedule's job. The
  trade-off is in docs/adr/0008.

Either way nothing starts until you turn it on in the UI (Automation), or a
deployment passes a running default status.
"""

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dagster import (
    AssetKey,
    AssetsDefinition,
    AssetSelection,
    AutomationCondition,
    AutomationConditionSensorDefinition,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    Definitions,
    ScheduleDefinition,
    SensorDefinition,
)
from sqlmesh.core.model import Model
from sqlmesh.core.node import IntervalUnit

from ..execution.execution import MaterializeMode
from ..project.resource import SQLMeshResource
from ..vocabulary.constants import CRON_METADATA, MODE_TAG, MODEL_OP_TAG
from .schedules import sqlmesh_schedules
from .translator import SQLMeshTranslator


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
    translator: SQLMeshTranslator | None = None,
    running: bool = False,
) -> AutomatedDefinitions:
    """The definitions that start runs on their own, for ``assets`` of :func:`.sqlmesh_assets`.

    In "conditions" mode the sensor also targets the Dagster assets above the
    models: :func:`with_upstream_conditions` gives them their condition.
    ``running`` starts the schedules or the sensor as soon as the code
    location loads (deployments).
    """
    automation = Automation.parse(automation) if isinstance(automation, str) else automation
    if automation is Automation.SCHEDULE:
        status = DefaultScheduleStatus.RUNNING if running else DefaultScheduleStatus.STOPPED
        schedules = sqlmesh_schedules(sqlmesh, list(assets), status)
        return AutomatedDefinitions(assets=list(assets), schedules=schedules, sensors=[])
    translator = translator or SQLMeshTranslator()
    models = sqlmesh.load_definitions().models
    conditioned = [_with_model_condition(asset, models, translator) for asset in assets]
    automated = [asset for asset in conditioned if _has_condition(asset)]
    if not automated:
        return AutomatedDefinitions(assets=conditioned, schedules=[], sensors=[])
    sensor = AutomationConditionSensorDefinition(
        f"{sqlmesh.name}_automation_sensor",
        # The models, and what is above them: an asset without a condition is not evaluated.
        target=AssetSelection.assets(*automated).upstream().materializable(),
        # The same semantics as the schedule: SQLMesh evaluates the intervals that are due.
        run_tags={MODE_TAG: MaterializeMode.RUN.value},
        default_status=DefaultSensorStatus.RUNNING if running else DefaultSensorStatus.STOPPED,
        description="Requests each SQLMesh model at its own cron, together with what is due with it.",
    )
    return AutomatedDefinitions(assets=conditioned, schedules=[], sensors=[sensor])


def with_upstream_conditions(
    upstream: Sequence[AssetsDefinition], defs: Definitions
) -> list[AssetsDefinition]:
    """``upstream`` assets, each read by SQLMesh models of ``defs`` that have conditions, with one too.

    An asset that writes a table the models read (an ingestion) and has no
    condition of its own gets the condition of its most frequent reader, so it
    is requested at the same ticks and runs first in the same run, as in the
    schedule's job. The models may be defined apart (a component). Without
    conditions on the models, ``upstream`` is returned as it is.
    """
    if not any(_has_condition(asset) for asset in defs.assets or [] if isinstance(asset, AssetsDefinition)):
        return list(upstream)
    graph = defs.resolve_asset_graph()
    result = []
    for asset in upstream:
        mine = asset.is_executable and not _has_condition(asset)
        conditions = {key: _readers_condition(graph, key) for key in asset.keys} if mine else {}
        conditions = {key: condition for key, condition in conditions.items() if condition is not None}
        result.append(asset.with_attributes(automation_condition=conditions) if conditions else asset)
    return result


def _readers_condition(graph: Any, key: AssetKey) -> AutomationCondition | None:
    """The condition of the most frequent SQLMesh model with a condition that reads ``key``, if any."""
    children = [graph.get(child) for child in graph.get(key).child_keys] if graph.has(key) else []
    readers = [child for child in children if CRON_METADATA in child.metadata]
    readers = [reader for reader in readers if reader.automation_condition is not None]
    if not readers:
        return None
    return min(readers, key=lambda reader: IntervalUnit.from_cron(_cron(reader)).seconds).automation_condition


def _cron(node: Any) -> str:
    value = node.metadata[CRON_METADATA]
    return str(getattr(value, "value", value))


def _with_model_condition(
    asset: AssetsDefinition, models: dict[str, Model], translator: SQLMeshTranslator
) -> AssetsDefinition:
    fqn = asset.op.tags.get(MODEL_OP_TAG) if asset.is_executable else None
    if fqn is None or not asset.keys:
        return asset  # the checks of sources and standalone audits: they run with what they check
    condition = translator.get_automation_condition(models[fqn])
    return asset if condition is None else asset.with_attributes(automation_condition=condition)


def _has_condition(asset: AssetsDefinition) -> bool:
    return any(spec.automation_condition is not None for spec in asset.specs)
