"""The SQLMesh resource: loads the project and performs one execution.

It knows nothing about Dagster runs or steps; :mod:`.run_results` decides
*when* to execute and shares the results. This module decides *how*:

1. bring the SQLMesh environment up to date with the run's models on disk
   (a plan limited to the new or changed ones, which builds and promotes them),
2. evaluate exactly the requested models, either with SQLMesh's own ``run``
   semantics (missing intervals only) or by restating them; partitioned
   models over the run's range of partitions only (see :mod:`.partitions`),
3. turn what SQLMesh reported into one :class:`ModelOutcome` per model.
"""

import re
import sys
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from enum import StrEnum
from pathlib import Path

from dagster import ConfigurableResource
from pydantic import Field, field_validator
from sqlmesh import Context
from sqlmesh.core import constants as c
from sqlmesh.core.config import Config, ConnectionConfig
from sqlmesh.core.config.loader import load_configs
from sqlmesh.core.environment import Environment, EnvironmentNamingInfo, execute_environment_statements
from sqlmesh.core.macros import RuntimeStage
from sqlmesh.core.model import Model
from sqlmesh.core.snapshot import Snapshot, SnapshotChangeCategory
from sqlmesh.utils.date import now_timestamp, to_datetime, to_timestamp
from sqlmesh.utils.errors import PlanError

from .diagnostics import WarehouseLockedError, creation_failures, load_error
from .event_capture import AuditFailureTarget, ExecutionRecorder, ModelEvents, recording
from .execution_stream import OutcomePublisher
from .outcomes import AuditOutcome, ModelOutcome, ModelStatus
from .partitions import TimeRange
from .project import ProjectDefinitions, cached_definitions
from .selection import DEFAULT_PROJECT_NAME, RunSelection
from .translator import AuditIdentity, audit_args_key, audit_is_blocking

_contexts: dict[tuple[str, str | None], Context] = {}
_ENVIRONMENT_NAME = re.compile(r"^[A-Za-z0-9_]+$")
_PROJECT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def check_environment_name(name: str) -> str:
    """The name, if SQLMesh can make schemas of it (``marts__dev``); a clear error otherwise."""
    if not _ENVIRONMENT_NAME.match(name):
        raise ValueError(
            f"SQLMesh environment name {name!r} is not valid (SQLMESH_ENVIRONMENT, or the resource's "
            "'environment'): use letters, digits and underscores only, for example 'dev' or 'prod'."
        )
    return name


class MaterializeMode(StrEnum):
    """What "materialize" asks SQLMesh to do for the selected models."""

    RUN = "run"
    """SQLMesh's own ``run``: evaluate missing intervals only, as a schedule would."""

    RESTATE = "restate"
    """Re-evaluate exactly the selected models, even if their intervals are complete."""


def check_project_name(name: str) -> str:
    """The name, if it can key a resource and prefix job names; a clear error otherwise."""
    if not _PROJECT_NAME.match(name):
        raise ValueError(
            f"SQLMesh project name {name!r} is not valid (the resource's or component's 'name'): use a "
            "letter, then letters, digits and underscores, for example 'sqlmesh' or 'finance'."
        )
    return name


class SQLMeshResource(ConfigurableResource):
    """Loads a SQLMesh project and executes it against its gateway."""

    name: str = Field(
        default=DEFAULT_PROJECT_NAME,
        description=(
            "The project's name in the code location: its resource key (with '<name>_results' for "
            "its run results) and the prefix of its jobs, schedules and sensor. Two SQLMesh "
            "projects in one code location need two names."
        ),
    )
    project_dir: str = Field(description="Folder holding the SQLMesh project (config.py, models/).")
    gateway: str | None = Field(default=None, description="SQLMesh gateway; None uses the default.")
    environment: str = Field(
        default="prod",
        description="SQLMesh environment the assets live in: runs build and read its views (marts__dev.x).",
    )
    auto_plan: bool = Field(
        default=True,
        description=(
            "Apply the project on disk to the environment before each execution (new and changed "
            "models get new versions; nothing is evaluated by the plan itself). Turn off where "
            "plans are applied from CI, so Dagster only runs what was deployed."
        ),
    )

    @field_validator("environment")
    @classmethod
    def _valid_environment(cls, name: str) -> str:
        return check_environment_name(name)

    @field_validator("name")
    @classmethod
    def _valid_name(cls, name: str) -> str:
        return check_project_name(name)

    @property
    def results_key(self) -> str:
        """The resource key of the project's :class:`.SQLMeshRunResults`."""
        return f"{self.name}_results"

    def load_definitions(self) -> ProjectDefinitions:
        """What the Dagster definitions need from the project; from a cache when nothing changed."""

        def load_from_disk() -> Context:
            # The project changed since this process last loaded it: load it anew (a context's
            # refresh does not see every change, a new external_models.yaml for one).
            _contexts.pop((self.project_dir, self.gateway), None)
            return self.load_context()

        return cached_definitions(Path(self.project_dir), self.gateway, load_from_disk)

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
        selection: RunSelection,
        mode: MaterializeMode,
        publisher: OutcomePublisher,
        not_done_upstream: Collection[str] = (),
    ) -> bool:
        """Execute SQLMesh once for a run; return whether a plan was applied.

        Each selected model's outcome is published as soon as it is final:
        an evaluated model when SQLMesh has evaluated its last batch, a model
        with nothing to evaluate before SQLMesh starts, the others (failed,
        skipped, audited) as SQLMesh reports them.

        Models whose asset is selected are evaluated as ``mode`` asks; models
        of which only checks are selected are audited against the table they
        already have, after the evaluation, so they read what it wrote.
        Selected audits of external sources run first: as in SQLMesh's own
        plan, a source whose blocking audit fails stops the models below it,
        as does ``not_done_upstream`` (models an earlier execution of the same
        run failed or skipped).
        """
        context = self.load_context()
        models = {fqn: context.get_model(fqn, raise_if_missing=True) for fqn in selection.model_names}
        sources = {fqn for fqn in selection.to_audit_only & set(models) if models[fqn].kind.is_external}
        recorder = ExecutionRecorder(publisher.writer.append)
        try:
            with recording(context, recorder), room_to_select(len(context.models)):
                if sources:
                    self._before_all(context, set(models))
                self._audit_only(context, sources, selection, recorder, publisher)
                failed_sources = {fqn for fqn in sources if publisher.published[fqn].blocking_audit_failed}
                plan_applied = self._materialize(
                    context,
                    selection.to_materialize,
                    mode,
                    recorder,
                    publisher,
                    failed_sources | set(not_done_upstream),
                    selection.time_range,
                    {fqn for fqn in selection.to_materialize if selection.in_range(fqn)},
                )
                # A standalone audit reading a model this run did not complete is skipped, as in SQLMesh.
                not_done = {fqn for fqn, outcome in publisher.published.items() if not outcome.done}
                not_done |= failed_sources | set(not_done_upstream)
                skipped = {
                    name
                    for name in selection.to_audit_only
                    if selection.models[name].standalone_audit
                    and context.standalone_audits[name].depends_on & not_done
                }
                recorder.models_skipped(skipped)
                for name in sorted(skipped):
                    publisher.publish(
                        name, lambda name=name: ModelOutcome(model=name, status=ModelStatus.SKIPPED)
                    )
                audited = selection.to_audit_only - sources - skipped
                self._audit_only(context, audited, selection, recorder, publisher)
            return plan_applied
        except Exception as error:
            locked = WarehouseLockedError.from_duckdb(error)
            if locked is not None:
                raise locked from None
            raise
        finally:
            # Release the DuckDB file: other processes cannot even read it while it is open.
            context.close()

    def _materialize(
        self,
        context: Context,
        fqns: set[str],
        mode: MaterializeMode,
        recorder: ExecutionRecorder,
        publisher: OutcomePublisher,
        failed_sources: set[str],
        time_range: TimeRange | None = None,
        ranged: Collection[str] = (),
    ) -> bool:
        """Plan, then evaluate ``fqns`` as ``mode`` asks; models in ``ranged`` over ``time_range`` only.

        A partitioned model in a run for a range of partitions has exactly
        that range evaluated: its missing intervals there (``run``), or all of
        them again (``restate``: SQLMesh's intervals for the range are removed
        from this model's snapshot alone, so nothing spills onto other models
        or days, and then evaluated).
        """
        if not fqns:
            return False
        models = {fqn: context.get_model(fqn) for fqn in fqns}
        blocked = self._blocked(context, models)
        for fqn, reason in blocked.items():
            recorder.message(f"SQLMesh: {fqn} cannot be materialized: {reason}", fqn)
            publisher.publish(
                fqn,
                lambda fqn=fqn, reason=reason: ModelOutcome(
                    model=models[fqn].name, status=ModelStatus.BLOCKED, error=reason
                ),
            )
        below_blocked = {d for fqn in set(blocked) | failed_sources for d in context.dag.downstream(fqn)}
        below_blocked &= set(models)
        recorder.models_skipped(below_blocked - set(blocked))
        plannable = {fqn: m for fqn, m in models.items() if fqn not in blocked and fqn not in below_blocked}

        def publish_evaluated(snapshot: Snapshot) -> None:
            model = models.get(snapshot.name)
            if model is not None:
                events = recorder.models.get(snapshot.name, ModelEvents())
                publisher.publish(
                    snapshot.name,
                    lambda: self._outcome(
                        context, model, snapshot, events, had_work=True, ranged=snapshot.name in ranged
                    ),
                )

        recorder.on_evaluated = publish_evaluated
        # A run for a range plans without evaluating: the range is evaluated by SQLMesh's run below.
        plan_applied = self._bring_environment_up_to_date(
            context, plannable, recorder, backfill=mode is MaterializeMode.RUN and not ranged
        )
        # A model the plan already failed or skipped is not attempted twice in one run; one whose
        # missing intervals the plan evaluated has its final outcome (SQLMesh's run would only find
        # it up to date, at the cost of reading the state of every model again).
        runnable = {
            fqn: model
            for fqn, model in plannable.items()
            if fqn not in recorder.settled() and fqn not in publisher.published
        }
        not_restatable = (
            {fqn: _why_not_restatable(m) for fqn, m in runnable.items() if m.disable_restatement}
            if mode is MaterializeMode.RESTATE
            else {}
        )
        snapshots = self._environment_snapshots(context, set(runnable))
        in_range = {fqn for fqn in runnable if fqn in ranged}  # ranged is empty without a range
        if mode is MaterializeMode.RESTATE and time_range is not None:
            restated = {fqn: snapshots[fqn] for fqn in in_range - set(not_restatable) if fqn in snapshots}
            self._forget_intervals(context, list(restated.values()), time_range, recorder)
        missing_before = self._models_with_missing_intervals(
            context, {fqn: s for fqn, s in snapshots.items() if fqn not in in_range}
        ) | self._models_with_missing_intervals(
            context, {fqn: s for fqn, s in snapshots.items() if fqn in in_range}, time_range
        )
        names = [model.name for fqn, model in runnable.items() if fqn not in not_restatable]

        def outcome(fqn: str) -> Callable[[], ModelOutcome]:
            model = models[fqn]
            return lambda: self._outcome(
                context,
                model,
                snapshots.get(fqn),
                recorder.models.get(fqn, ModelEvents()),
                # SQLMesh never restates a seed: it reloads one when its CSV file changes.
                had_work=fqn in missing_before
                or (mode is MaterializeMode.RESTATE and not model.kind.is_seed and fqn not in not_restatable),
                ranged=fqn in in_range,
            )

        if mode is MaterializeMode.RUN:
            for fqn in sorted(set(runnable) - missing_before):  # nothing to evaluate: final now
                publisher.publish(fqn, outcome(fqn))
        if names:
            recorder.message(
                f"SQLMesh: {mode.value} of {len(names)} model(s) in '{self.environment}'"
                + (f", partitioned ones over {time_range}" if in_range else "")
            )
        to_run = [fqn for fqn in runnable if runnable[fqn].name in names]
        if mode is MaterializeMode.RESTATE:
            whole = [runnable[fqn].name for fqn in to_run if fqn not in in_range]
            if whole:
                self._restate(context, whole)
            to_run = [fqn for fqn in to_run if fqn in in_range]  # their intervals are forgotten: missing
        for ranged_wave, wave in _waves(context, to_run, in_range):
            # One SQLMesh run does not know what an earlier one failed: skip what is below it here.
            stopped = recorder.settled()
            below = {fqn for fqn in wave if context.dag.upstream(fqn) & stopped}
            recorder.models_skipped(below)
            wave = [fqn for fqn in wave if fqn not in below]
            if not wave:
                continue
            bounds = (
                {"start": time_range.start, "end": time_range.end, "ignore_cron": True}
                if ranged_wave and time_range is not None
                else {}
            )
            status = context.run(
                self.environment,
                select_models=[runnable[fqn].name for fqn in wave],
                no_auto_upstream=True,
                **bounds,
            )
            if status.is_failure and not recorder.settled() & set(wave):
                raise RuntimeError(
                    "SQLMesh's run reported a failure without naming a failed model; "
                    "its log above says what went wrong."
                )
        for fqn in sorted(not_restatable):
            publisher.publish(
                fqn, lambda fqn=fqn: replace(outcome(fqn)(), not_restatable=not_restatable[fqn])
            )
        for fqn in sorted(models):  # failed, skipped, or with intervals SQLMesh did not evaluate
            publisher.publish(fqn, outcome(fqn))
        return plan_applied

    def _environment_or_origin(self, context: Context) -> Environment | None:
        """The run's environment; for one that does not exist yet, prod, which SQLMesh creates it from."""
        environment = context.state_reader.get_environment(self.environment)
        if environment is None and self.environment != c.PROD:
            environment = context.state_reader.get_environment(c.PROD)
        return environment

    def _blocked(self, context: Context, models: dict[str, Model]) -> dict[str, str]:
        """Models that cannot be built in this run, each with what is missing and what to do.

        A model is blocked when it reads a model that has no table in the
        environment and is not in the run (SQLMesh would fail creating its
        table with the database's "does not exist", which points at the wrong
        model), or, with ``auto_plan`` off, when it was never deployed.
        """
        environment = self._environment_or_origin(context)
        deployed = {s.name for s in environment.snapshots} if environment else set()
        blocked: dict[str, str] = {}
        for fqn, model in models.items():
            if not self.auto_plan and fqn not in deployed:
                blocked[fqn] = (
                    f"{model.name} is not deployed to SQLMesh environment '{self.environment}', and "
                    "auto_plan is off (SQLMESH_AUTO_PLAN=false), so this run cannot create it. Deploy "
                    f"it with `sqlmesh plan {self.environment}` in the SQLMesh project, or turn "
                    "auto_plan on, then materialize again."
                )
                continue
            missing = sorted(
                context.get_model(parent).name
                for parent in tables_read(context.models, model)
                if parent not in models and parent not in deployed and _built_by_sqlmesh(context, parent)
            )
            if missing:
                blocked[fqn] = (
                    f"{model.name} reads {', '.join(missing)}, which "
                    f"{'has' if len(missing) == 1 else 'have'} no table in SQLMesh environment "
                    f"'{self.environment}' yet. Materialize {'it' if len(missing) == 1 else 'them'} "
                    "first, or add them to this selection."
                )
        return blocked

    def _before_all(self, context: Context, selected: set[str]) -> None:
        """Execute the project's ``before_all`` statements, as SQLMesh does before a plan or run.

        Sources are audited before SQLMesh plans or runs anything, and a
        project may use ``before_all`` to prepare what they read.
        """
        statements = getattr(context, "_environment_statements", [])  # SQLMesh has no public accessor
        if not statements:
            return
        execute_environment_statements(
            adapter=context.engine_adapter,
            environment_statements=statements,
            runtime_stage=RuntimeStage.BEFORE_ALL,
            environment_naming_info=EnvironmentNamingInfo(name=self.environment),
            default_catalog=context.default_catalog,
            snapshots={s.name: s for s in context.snapshots.values()},
            selected_models=selected,
        )

    def _audit_only(
        self,
        context: Context,
        fqns: set[str],
        selection: RunSelection,
        recorder: ExecutionRecorder,
        publisher: OutcomePublisher,
    ) -> None:
        """Run the selected audits of models that are not materialized, as ``sqlmesh audit`` does."""
        if not fqns:
            return
        environment = self._environment_or_origin(context)  # the tables an audit reads are shared
        in_environment = (
            {s.name: s for s in context.state_reader.get_snapshots(environment.snapshots).values()}
            if environment
            else {}
        )
        for fqn in sorted(fqns):
            standalone = selection.models[fqn].standalone_audit
            name = fqn if standalone else context.get_model(fqn).name
            snapshot = self._auditable(context, fqn, standalone, in_environment)
            if isinstance(snapshot, str):
                recorder.message(f"SQLMesh: cannot audit {name}: {snapshot}", fqn)
                blocked = ModelOutcome(model=name, status=ModelStatus.BLOCKED, error=snapshot)
                publisher.publish(fqn, lambda blocked=blocked: blocked)
                continue
            wanted = selection.models[fqn].audits
            # The audits read the whole table: a time-ranged audit is bounded by the
            # first and last filled intervals (a table whose interval a blocking audit
            # withheld has none yet: up to now).
            filled = snapshot.intervals or [(0, now_timestamp())]
            start, end = filled[0][0], filled[-1][1]
            recorder.message(f"SQLMesh: auditing {name} ({len(wanted)} audit(s)), evaluating nothing", fqn)
            results = context.snapshot_evaluator.audit(
                snapshot=snapshot, snapshots=in_environment, start=start, end=end
            )
            audits = []
            for result in results:
                identity = AuditIdentity(result.audit.name, audit_args_key(result.audit_args))
                if identity not in wanted or result.skipped:
                    continue
                audit = AuditOutcome(
                    audit_name=identity.audit_name,
                    args_key=identity.args_key,
                    blocking=result.blocking,
                    passed=not result.count,
                    failing_rows=result.count or 0,
                )
                audits.append(audit)
                recorder.message(
                    f"SQLMesh: audit {identity.audit_name} of {name} "
                    + ("passed" if audit.passed else f"failed on {audit.failing_rows} row(s)"),
                    fqn,
                )
            audited = ModelOutcome(
                model=name,
                status=ModelStatus.AUDITED,
                audits=audits,
                snapshot_version=snapshot.version,
                physical_table=None if standalone else snapshot.table_name(),
            )
            publisher.publish(fqn, lambda audited=audited: audited)

    def _auditable(
        self, context: Context, fqn: str, standalone: bool, in_environment: dict[str, Snapshot]
    ) -> Snapshot | str:
        """The snapshot whose audits can run now, or why they cannot (what to do first)."""
        if standalone:
            audit = context.standalone_audits[fqn]
            missing = sorted(
                context.get_model(parent).name
                for parent in audit.depends_on
                if parent not in in_environment and _built_by_sqlmesh(context, parent)
            )
            if missing:
                return (
                    f"The standalone audit {fqn} reads {', '.join(missing)}, which "
                    f"{'has' if len(missing) == 1 else 'have'} no table in SQLMesh environment "
                    f"'{self.environment}' yet. Materialize {'it' if len(missing) == 1 else 'them'} "
                    "first, then execute its checks."
                )
            # Versioned from its definition: it reads the environment's tables, not one of its own.
            return in_environment.get(fqn) or _unplanned_snapshot(context, fqn)
        model = context.get_model(fqn)
        snapshot = in_environment.get(fqn) or (
            _unplanned_snapshot(context, fqn) if model.kind.is_external else None
        )
        if snapshot is not None and context.engine_adapter.table_exists(snapshot.table_name()):
            return snapshot
        if model.kind.is_external:
            return (
                f"The source table {model.name} does not exist in the warehouse, so its audits "
                "have nothing to check. Load it first (SQLMesh reads it but does not build it)."
            )
        return (
            f"{model.name} has no table in SQLMesh environment '{self.environment}' yet, "
            "so its audits have nothing to check. Materialize it first, then execute its checks."
        )

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
        # Outside prod, SQLMesh gives views only to the models a plan selected: one the
        # environment holds without a view of its own is planned too, so the run's models
        # all have a view there (prod has every model's).
        promoted = environment.promoted_snapshot_ids if environment else None
        viewed = None if promoted is None else {snapshot_id.name for snapshot_id in promoted}
        local = context.snapshots
        changed = {
            fqn: model.name
            for fqn, model in models.items()
            if deployed.get(fqn) != local[fqn].snapshot_id or (viewed is not None and fqn not in viewed)
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
                    select_models=sorted(set(changed.values()) | _unbuilt_ancestors(context, changed)),
                    skip_backfill=not backfill,
                    no_prompts=True,
                    auto_apply=True,
                    skip_tests=True,
                    skip_linter=True,
                )
                return True
            except Exception as error:
                failures = creation_failures(error, context)
                if not failures and backfill and isinstance(error, PlanError) and recorder.settled():
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

    def _environment_snapshots(self, context: Context, models: set[str]) -> dict[str, Snapshot]:
        if not models:
            return {}
        environment = context.state_reader.get_environment(self.environment)
        if environment is None:
            return {}
        wanted = [s.snapshot_id for s in environment.snapshots if s.name in models]
        return {s.name: s for s in context.state_reader.get_snapshots(wanted).values()}

    def _models_with_missing_intervals(
        self, context: Context, snapshots: dict[str, Snapshot], time_range: TimeRange | None = None
    ) -> set[str]:
        if not snapshots:
            return set()
        scheduler = context.scheduler(self.environment)
        bounds = (
            {"start": time_range.start, "end": time_range.end, "ignore_cron": True, "end_bounded": True}
            if time_range
            else {}
        )
        missing = scheduler.merged_missing_intervals(selected_snapshots=set(snapshots), **bounds)
        return {snapshot.name for snapshot, intervals in missing.items() if intervals}

    def _forget_intervals(
        self, context: Context, snapshots: list[Snapshot], time_range: TimeRange, recorder: ExecutionRecorder
    ) -> None:
        """Make SQLMesh's state forget ``time_range`` for exactly these snapshots, so its run evaluates it.

        SQLMesh's own restatement also clears the range of every model below,
        which a run for a few partitions of a few models must not touch.
        """
        if not snapshots:
            return
        interval = (to_timestamp(time_range.start), to_timestamp(time_range.end))
        context.state_sync.remove_intervals([(snapshot, interval) for snapshot in snapshots])
        for snapshot in snapshots:
            recorder.message(f"SQLMesh: restating {snapshot.name} over {time_range}", snapshot.name)

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

    def _view(self, context: Context, snapshot: Snapshot) -> str:
        """The view users query for the model in this environment (``marts__dev.customers`` in dev).

        Every model a run materializes has one: in an environment other than
        prod, the run plans (and so promotes) each model that has none yet.
        """
        naming = EnvironmentNamingInfo.from_environment_catalog_mapping(
            context.environment_catalog_mapping,
            name=self.environment,
            suffix_target=context.config.environment_suffix_target,
        )
        return snapshot.qualified_view_name.for_environment(naming, dialect=context.default_dialect)

    def _outcome(
        self,
        context: Context,
        model: Model,
        snapshot: Snapshot | None,
        events: ModelEvents,
        had_work: bool,
        ranged: bool = False,
    ) -> ModelOutcome:
        outcome = ModelOutcome(
            model=model.name,
            status=_status(events, had_work),
            error=events.error,
            duration_ms=events.duration_ms,
            intervals=events.intervals,
            audits=_audit_outcomes(events, model),
            snapshot_version=snapshot.version if snapshot else None,
            physical_table=snapshot.table_name() if snapshot else None,
            environment=self.environment,
            view=self._view(context, snapshot) if snapshot else None,
        )
        if ranged and snapshot is not None:
            # What SQLMesh's state holds now, not what it held when the run started.
            (current,) = context.state_reader.get_snapshots([snapshot.snapshot_id]).values()
            outcome.filled_intervals = [(start, end) for start, end in current.intervals]
        if outcome.status is ModelStatus.NOT_EVALUATED:
            outcome.waiting_on_signals = [name for name, _ in model.signals]
        if outcome.status is ModelStatus.UP_TO_DATE and snapshot and snapshot.intervals:
            outcome.covered_until = to_datetime(snapshot.intervals[-1][1]).isoformat()
        if outcome.wrote_rows and snapshot and not model.kind.is_view:
            (outcome.row_count,) = context.engine_adapter.fetchone(
                f"SELECT COUNT(*) FROM {snapshot.table_name()}"
            )
        return outcome


def gateway_connection(project_dir: str, gateway: str | None = None) -> ConnectionConfig:
    """A gateway's warehouse connection, read from the project's config as SQLMesh reads it.

    For Dagster assets that write tables SQLMesh reads: they reach the same
    warehouse without repeating its settings, and without loading any model.
    """
    (config,) = load_configs("config", Config, paths=project_dir).values()
    return config.get_gateway(gateway).connection


def _status(events: ModelEvents, had_work: bool) -> ModelStatus:
    if events.error is not None:
        return ModelStatus.AUDIT_FAILED if events.blocking_audit_failed else ModelStatus.FAILED
    if events.skipped:
        return ModelStatus.SKIPPED
    if events.evaluated_batches:
        return ModelStatus.EVALUATED
    return ModelStatus.NOT_EVALUATED if had_work else ModelStatus.UP_TO_DATE


def _audit_outcomes(events: ModelEvents, model: Model) -> list[AuditOutcome]:
    """A result for every audit use that ran, by SQLMesh identity; none when the audits did not run."""
    if not events.audits_ran:
        return []
    failures = {(f.audit_name, f.args_key): f.failing_rows for f in events.audit_failures}
    outcomes = []
    for audit, args in model.audits_with_args:
        if audit.skip:
            continue
        identity = AuditIdentity(audit.name, audit_args_key(args))
        rows = failures.get((identity.audit_name, identity.args_key))
        outcomes.append(
            AuditOutcome(
                audit_name=identity.audit_name,
                args_key=identity.args_key,
                blocking=audit_is_blocking(audit.blocking, args),
                passed=rows is None,
                failing_rows=rows or 0,
            )
        )
    return outcomes


@contextmanager
def room_to_select(models: int) -> Iterator[None]:
    """Let SQLMesh parse a selection of up to ``models`` models.

    SQLMesh parses ``select_models`` and ``restate_models`` as one expression,
    recursing once per name: from several hundred models on, Python's default
    recursion limit (1000) fails the run with ``RecursionError``.
    """
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(max(previous, 4 * models + 1000))
    try:
        yield
    finally:
        sys.setrecursionlimit(previous)


def tables_read(models: Mapping[str, Model], model: Model) -> set[str]:
    """What ``model`` reads, looking through embedded models (inlined) to what they read.

    Used for the asset graph's edges (externals included) and to find upstream
    tables a run cannot build.
    """
    tables = set()
    for fqn in model.depends_on:
        parent = models.get(fqn)
        tables |= tables_read(models, parent) if parent is not None and parent.kind.is_embedded else {fqn}
    return tables


def _built_by_sqlmesh(context: Context, fqn: str) -> bool:
    """Whether SQLMesh builds this table (not an external model, nor a table it does not know)."""
    model = context.models.get(fqn)
    return model is not None and not model.kind.is_external


def _unbuilt_ancestors(context: Context, fqns: dict[str, str]) -> set[str]:
    """Names of the embedded and external models the given models read (directly or through embedded ones).

    Neither has a table SQLMesh builds, yet each is part of the version of the
    models reading it. A plan that leaves them out renders a model below an
    embedded one against a table that does not exist, and gives a model reading
    an external one a version other than the project's, which every later run
    would take for a change to plan again.
    """
    found: set[str] = set()
    pending = [parent for fqn in fqns for parent in context.get_model(fqn).depends_on]
    while pending:
        parent = context.models.get(pending.pop())
        if parent is None or parent.name in found:
            continue
        if parent.kind.is_embedded:
            found.add(parent.name)
            pending.extend(parent.depends_on)
        elif parent.kind.is_external:
            found.add(parent.name)
    return found


def _unplanned_snapshot(context: Context, fqn: str) -> Snapshot:
    """The snapshot of a source or a standalone audit, ready to audit though no plan has deployed it.

    Neither has a table SQLMesh builds: their audits read tables that exist
    already, so a version derived from the definition is all the evaluator needs.
    """
    snapshot = context.snapshots[fqn].model_copy()
    if snapshot.change_category is None:
        snapshot.categorize_as(SnapshotChangeCategory.BREAKING)
    return snapshot


def _why_not_restatable(model: Model) -> str:
    kind = model.kind.name.value
    return (
        f"SQLMesh does not restate {model.name}: restatement is disabled for it ({kind}"
        + (", which keeps a history that a restatement would lose" if model.kind.is_scd_type_2 else "")
        + (", whose rows are only ever appended" if model.kind.is_incremental_unmanaged else "")
        + "). Nothing was evaluated and its data is unchanged. Materialize it in 'run' mode, or set "
        "`disable_restatement false` in its kind if you mean to rebuild it."
    )


def _waves(context: Context, fqns: list[str], ranged: set[str]) -> list[tuple[bool, list[str]]]:
    """``fqns`` in the order SQLMesh's runs must take them: a model after every model it reads.

    Models over the run's range and the others are run apart (one takes a
    start and an end, the other does not); a model goes in the first wave
    after every wave holding a model it reads, so it reads their new rows.
    """
    wanted = set(fqns)
    wave: dict[str, int] = {}
    for fqn in context.dag.sorted:
        if fqn not in wanted:
            continue
        kind = fqn in ranged
        above = [(wave[p], (p in ranged) != kind) for p in context.dag.upstream(fqn) if p in wave]
        wave[fqn] = max((number + changes for number, changes in above), default=0)
    ordered: dict[tuple[int, bool], list[str]] = {}
    for fqn in sorted(wave, key=lambda fqn: (wave[fqn], fqn in ranged)):
        ordered.setdefault((wave[fqn], fqn in ranged), []).append(fqn)
    return [(in_range, names) for (_, in_range), names in ordered.items()]
