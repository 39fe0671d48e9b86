"""The SQLMesh resource: loads the project and performs one execution.

It knows nothing about Dagster runs or steps; :mod:`.run_results` decides
*when* to execute and shares the results. This module decides *how*:

1. bring the SQLMesh environment up to date with the run's models on disk
   (a plan limited to the new or changed ones, which builds and promotes them),
2. evaluate exactly the requested models, either with SQLMesh's own ``run``
   semantics (missing intervals only) or by restating them,
3. turn what SQLMesh reported into one :class:`ModelOutcome` per model.
"""

from collections.abc import Callable, Collection
from enum import StrEnum

from dagster import ConfigurableResource
from pydantic import Field
from sqlmesh import Context
from sqlmesh.core.model import Model
from sqlmesh.core.snapshot import Snapshot
from sqlmesh.utils.date import to_datetime
from sqlmesh.utils.errors import PlanError

from .diagnostics import WarehouseLockedError, creation_failures, load_error
from .event_capture import AuditFailureTarget, ExecutionRecorder, ModelEvents, recording
from .outcomes import AuditOutcome, ModelOutcome, ModelStatus
from .translator import SQLMeshTranslator

_contexts: dict[tuple[str, str | None], Context] = {}


class MaterializeMode(StrEnum):
    """What "materialize" asks SQLMesh to do for the selected models."""

    RUN = "run"
    """SQLMesh's own ``run``: evaluate missing intervals only, as a schedule would."""

    RESTATE = "restate"
    """Re-evaluate exactly the selected models, even if their intervals are complete."""


class SQLMeshResource(ConfigurableResource):
    """Loads a SQLMesh project and executes it against its gateway."""

    project_dir: str = Field(description="Folder holding the SQLMesh project (config.py, models/).")
    gateway: str | None = Field(default=None, description="SQLMesh gateway; None uses the default.")
    environment: str = Field(default="prod", description="SQLMesh environment the assets live in.")
    auto_plan: bool = Field(
        default=True,
        description=(
            "Apply the project on disk to the environment before each execution (new and changed "
            "models get new versions; nothing is evaluated by the plan itself). Turn off where "
            "plans are applied from CI, so Dagster only runs what was deployed."
        ),
    )

    def load_context(self) -> Context:
        """The process's SQLMesh context, loaded once and refreshed when files change."""
        key = (self.project_dir, self.gateway)
        context = _contexts.get(key)
        try:
            if context is None:
                context = Context(
                    paths=self.project_dir,
                    gateway=self.gateway,
                    notification_targets=[AuditFailureTarget()],
                )
                _contexts[key] = context
            else:
                context.refresh()
        except Exception as error:
            # A broken model, audit or config.py: say which file and what is wrong.
            raise load_error(error, self.project_dir) from error
        return context

    def execute(
        self,
        model_fqns: Collection[str],
        mode: MaterializeMode,
        on_message: Callable[[str], None],
        translator: SQLMeshTranslator | None = None,
    ) -> tuple[dict[str, ModelOutcome], bool]:
        """Execute SQLMesh once for ``model_fqns``; return their outcomes and whether a plan was applied."""
        translator = translator or SQLMeshTranslator()
        context = self.load_context()
        models = {fqn: context.get_model(fqn, raise_if_missing=True) for fqn in model_fqns}
        recorder = ExecutionRecorder(on_message)
        try:
            return self._execute(context, models, mode, recorder, translator)
        except Exception as error:
            locked = WarehouseLockedError.from_duckdb(error)
            if locked is not None:
                raise locked from None
            raise
        finally:
            # Release the DuckDB file: other processes cannot even read it while it is open.
            context.close()

    def _execute(
        self,
        context: Context,
        models: dict[str, Model],
        mode: MaterializeMode,
        recorder: ExecutionRecorder,
        translator: SQLMeshTranslator,
    ) -> tuple[dict[str, ModelOutcome], bool]:
        with recording(context, recorder):
            plan_applied = self._bring_environment_up_to_date(
                context, models, recorder, backfill=mode is MaterializeMode.RUN
            )
            # A model the plan already failed or skipped is not attempted twice in one run.
            runnable = {fqn: model for fqn, model in models.items() if fqn not in recorder.settled()}
            snapshots = self._environment_snapshots(context, runnable)
            missing_before = self._models_with_missing_intervals(context, snapshots)
            names = [model.name for model in runnable.values()]
            recorder.message(f"SQLMesh: {mode.value} of {len(names)} model(s) in '{self.environment}'")
            if names and mode is MaterializeMode.RESTATE:
                self._restate(context, names)
            elif names:
                context.run(self.environment, select_models=names, no_auto_upstream=True)
        outcomes = {
            fqn: self._outcome(
                context,
                model,
                snapshots.get(fqn),
                recorder.models.get(fqn, ModelEvents()),
                # SQLMesh never restates a seed: it reloads one when its CSV file changes.
                had_work=fqn in missing_before
                or (mode is MaterializeMode.RESTATE and not model.kind.is_seed),
                translator=translator,
            )
            for fqn, model in models.items()
        }
        return outcomes, plan_applied

    def _bring_environment_up_to_date(
        self,
        context: Context,
        models: dict[str, Model],
        recorder: ExecutionRecorder,
        backfill: bool,
    ) -> bool:
        """Apply the run's new or changed models to the environment.

        Only the models of this run are planned (``select_models``): a changed
        model outside the selection keeps its deployed version, and its data,
        until a run selects it. With ``backfill`` the plan also evaluates them,
        in one pass as ``sqlmesh plan`` does (creating every table up front
        without filling it costs SQLMesh a rendering against every other model,
        which grows with the square of the project's size). If a model fails
        while the plan evaluates, SQLMesh records what was completed but leaves
        the environment as it was; the plan is then applied again without
        backfill, so the environment exists and the next run retries only what
        failed. A model whose table cannot be created (a missing table or column)
        fails on its own: it and what the run has below it are left out and the
        plan is applied to the others.

        Returns whether a plan was applied. Every model the plan failed or
        skipped is in ``recorder.settled()``.
        """
        environment = context.state_reader.get_environment(self.environment)
        deployed = {s.name: s.snapshot_id for s in environment.snapshots} if environment else {}
        local = context.snapshots
        changed = {
            fqn: model.name for fqn, model in models.items() if deployed.get(fqn) != local[fqn].snapshot_id
        }
        if not changed:
            return False
        if not self.auto_plan:
            if environment is None:
                raise RuntimeError(
                    f"SQLMesh environment '{self.environment}' does not exist and auto_plan is off: "
                    "apply a plan first (sqlmesh plan)."
                )
            recorder.message(
                f"SQLMesh: {len(changed)} model(s) differ from what '{self.environment}' has deployed; "
                "auto_plan is off, so the deployed versions run."
            )
            return False
        while changed:
            recorder.message(
                f"SQLMesh: applying {len(changed)} new or changed model(s) to '{self.environment}'"
                f"{'' if backfill else ' (creating their new versions, evaluating nothing)'}: "
                f"{', '.join(sorted(changed.values()))}"
            )
            try:
                context.plan(
                    self.environment,
                    select_models=sorted(changed.values()),
                    skip_backfill=not backfill,
                    no_prompts=True,
                    auto_apply=True,
                    skip_tests=True,
                    skip_linter=True,
                )
                return True
            except Exception as error:
                failures = creation_failures(error, context)
                if not failures and backfill and isinstance(error, PlanError):
                    backfill = False  # models failed while evaluated; each is recorded
                    continue
                if not failures:
                    raise
            for fqn, message in failures.items():
                recorder.model_not_created(fqn, message)
            below = {d for fqn in failures for d in context.dag.downstream(fqn)} & set(models)
            recorder.models_skipped(below - set(failures))
            changed = {fqn: name for fqn, name in changed.items() if fqn not in failures and fqn not in below}
        return False

    def _environment_snapshots(self, context: Context, models: dict[str, Model]) -> dict[str, Snapshot]:
        environment = context.state_reader.get_environment(self.environment)
        if environment is None:
            return {}
        wanted = [s.snapshot_id for s in environment.snapshots if s.name in models]
        return {s.name: s for s in context.state_reader.get_snapshots(wanted).values()}

    def _models_with_missing_intervals(self, context: Context, snapshots: dict[str, Snapshot]) -> set[str]:
        if not snapshots:
            return set()
        scheduler = context.scheduler(self.environment)
        missing = scheduler.merged_missing_intervals(selected_snapshots=set(snapshots))
        return {snapshot.name for snapshot, intervals in missing.items() if intervals}

    def _restate(self, context: Context, names: list[str]) -> None:
        try:
            context.plan(
                self.environment,
                restate_models=names,
                backfill_models=names,
                no_prompts=True,
                auto_apply=True,
                skip_tests=True,
                skip_linter=True,
            )
        except PlanError:
            pass  # per-model failures were recorded by the console; they are reported per asset

    def _outcome(
        self,
        context: Context,
        model: Model,
        snapshot: Snapshot | None,
        events: ModelEvents,
        had_work: bool,
        translator: SQLMeshTranslator,
    ) -> ModelOutcome:
        outcome = ModelOutcome(
            model=model.name,
            status=_status(events, had_work),
            error=events.error,
            duration_ms=events.duration_ms,
            intervals=events.intervals,
            audits=_audit_outcomes(events, translator, model),
            snapshot_version=snapshot.version if snapshot else None,
            physical_table=snapshot.table_name() if snapshot else None,
        )
        if outcome.status is ModelStatus.UP_TO_DATE and snapshot and snapshot.intervals:
            outcome.covered_until = to_datetime(snapshot.intervals[-1][1]).isoformat()
        if outcome.wrote_rows and snapshot and not model.kind.is_view:
            (outcome.row_count,) = context.engine_adapter.fetchone(
                f"SELECT COUNT(*) FROM {snapshot.table_name()}"
            )
        return outcome


def _status(events: ModelEvents, had_work: bool) -> ModelStatus:
    if events.error is not None:
        return ModelStatus.AUDIT_FAILED if events.blocking_audit_failed else ModelStatus.FAILED
    if events.skipped:
        return ModelStatus.SKIPPED
    if events.evaluated_batches:
        return ModelStatus.EVALUATED
    return ModelStatus.NOT_EVALUATED if had_work else ModelStatus.UP_TO_DATE


def _audit_outcomes(events: ModelEvents, translator: SQLMeshTranslator, model: Model) -> list[AuditOutcome]:
    """A result for every audit use that ran; none at all when the audits did not run."""
    if not events.audits_ran:
        return []
    failures = {(f.audit_name, f.args_key): f.failing_rows for f in events.audit_failures}
    return [
        AuditOutcome(
            check_name=use.check_name,
            audit_name=use.audit_name,
            blocking=use.blocking,
            passed=(use.audit_name, use.args_key) not in failures,
            failing_rows=failures.get((use.audit_name, use.args_key), 0),
        )
        for use in translator.get_audit_uses(model)
    ]
