"""SQLMesh environments from Dagster: review the plan for an environment, then promote it.

A change is tried in a development environment (``SQLMESH_ENVIRONMENT=dev``:
every run builds the changed models' new versions there, and ``prod`` views
keep showing what they showed). Two jobs take it further:

- ``sqlmesh_plan_report`` computes the plan that would apply the project on
  disk to an environment (``prod`` by default) and reports it without
  applying it: models added, removed, modified directly (breaking or not) and
  indirectly, each direct change's diff, and the intervals applying it would
  evaluate;
- ``sqlmesh_promote`` reports the same plan, then applies it. What a
  development environment already built is not evaluated again: SQLMesh
  points the environment's views at the tables that exist.

The plan backfills only the models the project changes (and what they read,
if it is missing intervals). Intervals missing for other reasons, the days
of a partitioned model nobody asked for yet, are left to runs. A partitioned
model the plan adds or changes is promoted without filling its history
either (a multi-year backfill is not what a promotion should start): the
report names its ranges left to fill and the command that fills them, and
``backfill_partitions`` keeps SQLMesh's own full backfill.
"""

from collections.abc import Mapping
from contextlib import closing
from dataclasses import replace
from pathlib import Path

from dagster import (
    AssetKey,
    AssetMaterialization,
    AssetsDefinition,
    Config,
    JobDefinition,
    MetadataValue,
    OpExecutionContext,
    Output,
    job,
    op,
)
from pydantic import Field
from sqlmesh import Context
from sqlmesh.core.plan import Plan

from ..execution.event_capture import ExecutionRecorder, recording
from ..execution.selection import project_of
from ..project.resource import SQLMeshResource, check_environment_name
from ..vocabulary.constants import (
    ENVIRONMENT,
    INTERVALS_EVALUATED,
    INTERVALS_TO_EVALUATE,
    MODEL_OP_TAG,
    MODELS_CHANGED,
    PLAN,
    SNAPSHOT_VERSION,
    STATUS,
)
from ..vocabulary.model_graph import built_by_sqlmesh
from .data_diff import EnvironmentMissing, data_diffs
from .plan_report import PartitionedAsset, PlanReport, partitioned_assets


class PlanConfig(Config):
    environment: str = Field(default="prod", description="SQLMesh environment the plan is for.")
    backfill_partitions: bool = Field(
        default=False,
        description="Let the plan fill the history of the partitioned models it adds or changes, as "
        "SQLMesh's own plan does. Off: they are promoted without it, and the report says which "
        "ranges to fill with runs (make run PARTITION=...).",
    )
    report_file: str | None = Field(
        default=None,
        description="Also append the report, as markdown, to this file (CI: $GITHUB_STEP_SUMMARY).",
    )
    diff_from: str | None = Field(
        default=None,
        description="An environment with the change built (dev): the report adds a data diff of each "
        "changed model there against the plan's environment (rows added, removed and changed on its "
        "grain, columns, a sample). It reads the tables; it evaluates nothing. None: no data diff.",
    )
    diff_models: int = Field(
        default=25, ge=0, description="At most this many changed models are diffed (direct changes first)."
    )
    diff_sample_rows: int = Field(default=5, ge=0, description="Changed rows shown per model.")


def build_plan(
    context: Context, environment: str, skip_backfill: bool = False, own: frozenset[str] | None = None
) -> Plan:
    """The plan applying the project on disk to environment, limited to what it changes.

    A first plan of the whole project finds the models added or modified
    (their new versions may be built already, by a development environment).
    The plan returned selects those models only, as a run's plan does: what
    they read keeps the environment's versions, and the backfill is theirs
    alone. Intervals missing elsewhere (days of a partitioned model no
    run asked for) are left to runs. A project that removes models gets the
    whole plan, the only one that removes them.

    ``own``: the models of a component that selects some of the project
    (:mod:`..project.model_selection`); None, every model. A component's plan applies
    its own changes only: another component's changed models keep their
    versions in the environment until that component's plan applies them,
    and models the project removed stay until a plan of the whole project
    (a component without ``select``, or ``sqlmesh plan``) removes them.
    """
    check_environment_name(environment)
    options = {"skip_tests": True, "skip_linter": True, "skip_backfill": skip_backfill}
    plan = context.plan_builder(environment, **options).build()
    diff = plan.context_diff
    changed = {diff.snapshots[s].name: diff.snapshots[s].node.name for s in diff.added} | {
        new.name: new.node.name for new, _ in diff.modified_snapshots.values()
    }
    if own is None:
        if not changed or diff.removed_snapshots:
            return plan
        return context.plan_builder(environment, select_models=sorted(changed.values()), **options).build()
    mine = {fqn: name for fqn, name in changed.items() if fqn in own}
    # Nothing of its own changed: a plan of its own models, which changes nothing.
    selected = mine or {fqn: context.get_model(fqn).name for fqn in own if built_by_sqlmesh(context, fqn)}
    return context.plan_builder(environment, select_models=sorted(selected.values()), **options).build()


def _promote_leaving_partitions(
    context: Context,
    environment: str,
    plan: Plan,
    partitioned: Mapping[str, PartitionedAsset],
    own: frozenset[str] | None,
) -> None:
    """Apply the plan's changes without its backfill, then evaluate what it would have, partitions aside.

    SQLMesh's plan also fills what the models it backfills read, so it cannot
    be told to leave one model's history alone: the plan is applied without
    backfill (the environment's views point at the new versions), then
    SQLMesh's run evaluates the unpartitioned models the plan would have
    evaluated, and only them. What a development environment built is
    complete already, and is not evaluated again.
    """
    names = sorted(
        {
            plan.snapshots[missing.snapshot_id].node.name
            for missing in plan.missing_intervals
            if missing.snapshot_id.name not in partitioned
        }
    )
    context.apply(build_plan(context, environment, skip_backfill=True, own=own))
    if names:
        context.run(environment, select_models=names, no_auto_upstream=True)


def _with_data_diffs(sqlmesh_context: Context, report: PlanReport, config: PlanConfig) -> PlanReport:
    """``report`` with the data diff of its changed models, ``diff_from`` against its environment."""
    if not config.diff_from or config.diff_from == report.environment or not config.diff_models:
        return report
    changed = [change.fqn for change in report.directly_modified + report.indirectly_modified + report.added]
    try:
        diffs = data_diffs(
            sqlmesh_context,
            config.diff_from,
            report.environment,
            changed[: config.diff_models],
            config.diff_sample_rows,
        )
    except EnvironmentMissing as missing:
        return replace(report, diff_source=config.diff_from, diff_note=str(missing))
    return replace(
        report, diff_source=config.diff_from, data_diffs=diffs, not_diffed=len(changed) - len(diffs)
    )


def _report(context: OpExecutionContext, report: PlanReport, config: PlanConfig) -> str:
    text = report.markdown()
    context.log.info(text)
    if config.report_file:
        with Path(config.report_file).open("a", encoding="utf-8") as file:
            file.write(text)
    return text


def _metadata(report: PlanReport, text: str) -> dict[str, object]:
    return {
        ENVIRONMENT: report.environment,
        PLAN: MetadataValue.md(text),
        MODELS_CHANGED: len(report.added + report.directly_modified + report.indirectly_modified)
        + len(report.removed),
        INTERVALS_TO_EVALUATE: report.intervals_to_evaluate,
    }


def _promote(
    context: OpExecutionContext,
    config: PlanConfig,
    sqlmesh: SQLMeshResource,
    partitioned: Mapping[str, PartitionedAsset],
    keys: Mapping[str, AssetKey],
) -> Output[None]:
    """Report the plan for the environment, apply it, and say which assets' views it changed."""
    sqlmesh_context = sqlmesh.load_context()
    own = sqlmesh.own_models(sqlmesh_context)
    coordination = sqlmesh.coordination(sqlmesh_context, context.run.run_id, context.log.info)
    # A promotion may evaluate any of the project's models (its own, with select): it waits for
    # the runs evaluating them, then for the plan lock, and runs wait for it (execution/coordination.py).
    mine = [fqn for fqn in sqlmesh_context.models if own is None or fqn in own]
    with (
        coordination,
        coordination.warehouse(),
        coordination.models(mine),
        coordination.plan(),
        closing(sqlmesh_context),
    ):
        coordination.open_state(sqlmesh_context)
        plan = build_plan(sqlmesh_context, config.environment, own=own)
        report = _with_data_diffs(
            sqlmesh_context,
            PlanReport.from_plan(plan, {} if config.backfill_partitions else partitioned),
            config,
        )
        text = _report(context, report, config)
        if not report.has_changes:
            return Output(None, metadata=_metadata(report, text))
        recorder = ExecutionRecorder(on_line=lambda line: context.log.info(line.text))
        with recording(sqlmesh_context, recorder):
            if report.left_to_runs:
                _promote_leaving_partitions(sqlmesh_context, config.environment, plan, partitioned, own)
            else:
                sqlmesh_context.apply(plan)
        evaluated = sum(events.evaluated_batches for events in recorder.models.values())
    context.log.info(
        f"SQLMesh: applied the plan to '{config.environment}'; it evaluated {evaluated} interval(s)."
    )
    _announce_promoted(context, report, keys, config.environment)
    return Output(None, metadata={**_metadata(report, text), INTERVALS_EVALUATED: evaluated})


def _announce_promoted(
    context: OpExecutionContext, report: PlanReport, keys: Mapping[str, AssetKey], environment: str
) -> None:
    """What the environment's views show changed: the assets say so, naming the version."""
    for change in report.added + report.directly_modified + report.indirectly_modified:
        if change.fqn in keys:
            context.log_event(
                AssetMaterialization(
                    asset_key=keys[change.fqn],
                    metadata={
                        STATUS: f"promoted to '{environment}' ({change.category or 'new'})",
                        ENVIRONMENT: environment,
                        SNAPSHOT_VERSION: change.version,
                    },
                )
            )


def sqlmesh_environment_jobs(assets: list[AssetsDefinition]) -> list[JobDefinition]:
    """The plan report and promotion jobs of the project of ``assets``; both require its resource.

    ``<name>_plan_report`` and ``<name>_promote``, ``<name>`` being the
    project's (its resource key, ``sqlmesh`` by default).
    """
    name = project_of(assets)
    partitioned = partitioned_assets(assets)
    # One key per model asset; the checks of sources and standalone audits have none.
    keys = {
        asset.op.tags[MODEL_OP_TAG]: key
        for asset in assets
        if MODEL_OP_TAG in asset.op.tags and asset.partitions_def is None
        for key in asset.keys
    }

    @op(name=f"report_{name}_plan", required_resource_keys={name})
    def report_plan(context: OpExecutionContext, config: PlanConfig) -> Output[None]:
        """Compute the plan for the environment and report it; apply nothing."""
        sqlmesh: SQLMeshResource = getattr(context.resources, name)
        sqlmesh_context = sqlmesh.load_context()
        coordination = sqlmesh.coordination(sqlmesh_context, context.run.run_id, context.log.info)
        # Others cannot open the DuckDB file while it is open: closed before its lock is released.
        with coordination, coordination.warehouse(), closing(sqlmesh_context):
            plan = build_plan(sqlmesh_context, config.environment, own=sqlmesh.own_models(sqlmesh_context))
            report = _with_data_diffs(
                sqlmesh_context,
                PlanReport.from_plan(plan, {} if config.backfill_partitions else partitioned),
                config,
            )
        return Output(None, metadata=_metadata(report, _report(context, report, config)))

    @op(name=f"promote_{name}_plan", required_resource_keys={name})
    def promote(context: OpExecutionContext, config: PlanConfig) -> Output[None]:
        """Report the plan for the environment, then apply it."""
        return _promote(context, config, getattr(context.resources, name), partitioned, keys)

    @job(
        name=f"{name}_plan_report",
        description="Report what applying the project on disk to a SQLMesh environment (prod) would do. "
        "Applies nothing.",
    )
    def plan_report_job() -> None:
        report_plan()

    @job(
        name=f"{name}_promote",
        description="Apply the project on disk to a SQLMesh environment (prod), after reporting the plan. "
        "What a development environment built is promoted without evaluating it again.",
    )
    def promote_job() -> None:
        promote()

    return [plan_report_job, promote_job]
