"""One SQLMesh execution: a run's selection evaluated and audited, each outcome published when final.

A :class:`SQLMeshExecution` is to SQLMesh what a dbt process is to
dagster-dbt's ``DbtCliInvocation``: the resource hands it one loaded
project and the run's selection, and for its lifetime it owns the SQLMesh
context, the recorder of what SQLMesh says and the publisher of outcomes.
It goes through these steps once, in this order:

1. audit the selected external sources (a failing blocking audit stops the
   models below them, as in SQLMesh's own plan);
2. bring the environment up to date with the run's models (see
   :mod:`.planning`): a plan limited to the new or changed ones;
3. evaluate exactly the requested models, with SQLMesh's own ``run``
   semantics (missing intervals only) or by restating them; partitioned
   models over the run's range of partitions only (see :mod:`..vocabulary.partitions`);
4. audit the models of which only checks are selected, and standalone
   audits, against what the evaluation wrote.

Events flow one way: SQLMesh reports to the recorder, which hands each
model it has finished to the execution; the execution builds that model's
outcome (see :mod:`.outcome_builder`) and publishes it to the run's stream,
where the model's step reads it.
"""

import sys
from collections.abc import Collection, Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import replace
from enum import StrEnum

from sqlmesh import Context
from sqlmesh.core.model import Model
from sqlmesh.core.snapshot import Snapshot

from ..vocabulary.diagnostics import WarehouseLockedError
from ..vocabulary.model_graph import downstream_of, waves
from ..vocabulary.outcomes import ModelEvents, ModelOutcome
from .auditing import Auditor, standalone_audits_reading
from .blockers import blocked_models, reads_unfilled, unselected_upstream
from .coordination import Coordination, Holder
from .environment_state import EnvironmentState, WorkLeft
from .event_capture import ExecutionRecorder, recording
from .execution_stream import OutcomePublisher, StreamWriter
from .outcome_builder import OutcomeBuilder, blocked, skipped
from .planning import Planner
from .selection import RunSelection
from .selectors import run_selection


class MaterializeMode(StrEnum):
    """What "materialize" asks SQLMesh to do for the selected models."""

    RUN = "run"
    """SQLMesh's own ``run``: evaluate missing intervals only, as a schedule would."""

    RESTATE = "restate"
    """Re-evaluate exactly the selected models, even if their intervals are complete."""


class SQLMeshExecution:
    """One execution of a run's selection against one SQLMesh environment; :meth:`run` it once."""

    def __init__(
        self,
        context: Context,
        *,
        environment: str,
        auto_plan: bool,
        selection: RunSelection,
        mode: MaterializeMode,
        writer: StreamWriter,
        not_done_upstream: Collection[str] = (),
        count_rows: bool = True,
        owned: Collection[str] | None = None,
        holder: Holder | None = None,
        lock_timeout_seconds: float = 3600,
    ) -> None:
        """``not_done_upstream``: models an earlier execution of the same run failed or skipped;
        ``count_rows``: count the rows of each table written (see :mod:`..vocabulary.include_metadata`);
        ``owned``: the models that are this project's assets (``select``), None: all of them;
        ``holder``: who this execution is to other executions waiting for its locks (see
        :mod:`.coordination`), waiting at most ``lock_timeout_seconds`` for theirs."""
        self.context = context
        self.environment = environment
        self.auto_plan = auto_plan
        self.selection = selection
        self.mode = mode
        self.not_done_upstream = set(not_done_upstream)
        self.owned = None if owned is None else frozenset(owned)
        self._selected = {fqn: context.get_model(fqn) for fqn in selection.to_materialize}
        """The models to materialize: each is published the moment SQLMesh is done with it."""
        self.publisher = OutcomePublisher(writer)
        self.recorder = ExecutionRecorder(on_line=writer.append, on_finished=self._publish_finished)
        self.coordination = Coordination.for_context(
            context, holder or Holder.this_process(None), lock_timeout_seconds, self._say
        )
        self.state = EnvironmentState(context, environment, self.recorder.message)
        self.planner = Planner(context, environment, auto_plan, self.recorder, self.coordination)
        self.outcomes = OutcomeBuilder(context, environment, count_rows)
        self.auditor = Auditor(context, self.planner, self.recorder, self.outcomes)
        self.waited_for: dict[str, Holder] = {}
        """For each model that waited for another execution's lock, the holder it waited for."""

    def run(self) -> bool:
        """Execute SQLMesh once; return whether a plan was applied. Closes the context.

        A run where an asset that is not SQLMesh's reads what SQLMesh builds
        gets every outcome once SQLMesh is done: that asset must not read a
        view a plan promotes only at its end, nor a DuckDB file SQLMesh holds
        until the context is closed. Assets feeding SQLMesh ran before it started.
        """
        with self.publisher.holding(bool(self.selection.readers_of_sqlmesh)):
            try:
                # Left in reverse order: the context closes (releasing the DuckDB file, which other
                # processes cannot even read while it is open) before the lock on it is released.
                with (
                    self.coordination,
                    self.coordination.warehouse(self.selection.model_names) as waited,
                    closing(self.context),
                    recording(self.context, self.recorder),
                    room_to_select(len(self.context.models)),
                ):
                    if waited is not None:
                        self.waited_for = dict.fromkeys(self.selection.model_names, waited)
                    self.coordination.open_state(self.context, self.selection.model_names)
                    return self._steps()
            except Exception as error:
                locked = WarehouseLockedError.from_duckdb(error)
                if locked is not None:
                    raise locked from None
                raise

    def _steps(self) -> bool:
        selection = self.selection
        models = {fqn: self.context.get_model(fqn, raise_if_missing=True) for fqn in selection.model_names}
        sources = {fqn for fqn in selection.to_audit_only & set(models) if models[fqn].kind.is_external}
        if sources:
            self.auditor.before_all(set(models))
        self._publish_all(self.auditor.audit(sources, selection))
        failed_sources = {fqn for fqn in sources if self.publisher.published[fqn].blocking_audit_failed}
        stopped_upstream = failed_sources | self.not_done_upstream
        plan_applied = self._materialize(stopped_upstream)
        skipped_audits = self._skip_standalone_audits(stopped_upstream)
        self._publish_all(self.auditor.audit(selection.to_audit_only - sources - skipped_audits, selection))
        return plan_applied

    def _materialize(self, stopped_upstream: set[str]) -> bool:
        """Plan, then evaluate the selected models as the mode asks; partitioned ones over the range only.

        A partitioned model in a run for a range of partitions has exactly
        that range evaluated: its missing intervals there (``run``), or all of
        them again (``restate``: SQLMesh's intervals for the range are removed
        from this model's snapshot alone, so nothing spills onto other models
        or days, and then evaluated).
        """
        if not self.selection.to_materialize:
            return False
        models = self._selected
        ranged = {fqn for fqn in models if self.selection.in_range(fqn)}
        plannable = self._leave_out_blocked(models, stopped_upstream)
        # Another execution evaluating one of these models (or about to) finishes first: what it
        # evaluated is then complete, and only what is still missing is evaluated here.
        with self.coordination.models(plannable) as waited:
            self.waited_for |= waited
            plan_applied, work = self._plan_and_evaluate(plannable, ranged)
        # What is not published yet is final now: failed, skipped, or with intervals SQLMesh did not evaluate.
        # A model the plan settled (a blocking audit failed while it evaluated it) has a version too:
        # its outcome names it, and the rows it wrote are counted.
        settled = set(models) - set(work.snapshots) - self.publisher.published.keys()
        work = replace(work, snapshots={**self.state.snapshots(settled), **work.snapshots})
        for fqn, reason in sorted(work.not_restatable.items()):
            if self._unpublished(fqn):
                self.publisher.publish(
                    fqn, replace(self._outcome(fqn, models[fqn], work), not_restatable=reason)
                )
        for fqn in sorted(models):
            if self._unpublished(fqn):
                self.publisher.publish(fqn, self._outcome(fqn, models[fqn], work))
        return plan_applied

    def _plan_and_evaluate(self, plannable: dict[str, Model], ranged: set[str]) -> tuple[bool, WorkLeft]:
        """Bring the environment up to date with ``plannable``, then evaluate what is left of them."""
        unselected = unselected_upstream(self.context, plannable, self._selected)
        # A run for a range plans without evaluating: the range is evaluated by SQLMesh's run below.
        # So does a run below models it did not select: SQLMesh's plan would fill their missing
        # intervals too (a partitioned model's whole history), its run leaves them alone.
        plan_applied = self.planner.bring_up_to_date(
            plannable, backfill=self.mode is MaterializeMode.RUN and not ranged and not unselected
        )
        self._say_what_unselected_upstream_misses(plannable, unselected)
        work = self._work_left(plannable, ranged)
        self._evaluate(work)
        return plan_applied, work

    def _say(self, text: str, models: Collection[str]) -> None:
        """A line about waiting for a lock: in the log of each model's step, or of the execution."""
        if not models:
            self.recorder.message(text)
        for fqn in sorted(models):
            self.recorder.message(text, fqn)

    def _with_wait(self, fqn: str, outcome: ModelOutcome) -> ModelOutcome:
        """The outcome, naming the execution this one waited for before it evaluated ``fqn``."""
        holder = self.waited_for.get(fqn)
        return outcome if holder is None else replace(outcome, waited_for=holder.describe())

    def _say_what_unselected_upstream_misses(self, models: dict[str, Model], unselected: set[str]) -> None:
        """Log, on each model's step, the intervals models it reads and this run leaves alone lack."""
        lacking = self.state.missing_intervals(self.state.snapshots(unselected))
        for fqn, line in reads_unfilled(self.context, models, lacking):
            self.recorder.message(line, fqn)

    def _leave_out_blocked(self, models: dict[str, Model], stopped_upstream: set[str]) -> dict[str, Model]:
        """The models this run can plan: not blocked, and below nothing blocked or stopped."""
        blocked_models = self._blocked(models)
        for fqn, reason in blocked_models.items():
            self.recorder.message(f"SQLMesh: {fqn} cannot be materialized: {reason}", fqn)
            if self._unpublished(fqn):
                self.publisher.publish(fqn, blocked(models[fqn].name, reason))
        below = downstream_of(self.context, set(blocked_models) | stopped_upstream) & set(models)
        self.recorder.models_skipped(below - set(blocked_models))
        return {fqn: m for fqn, m in models.items() if fqn not in blocked_models and fqn not in below}

    def _work_left(self, plannable: dict[str, Model], ranged: set[str]) -> WorkLeft:
        # A model the plan already failed or skipped is not attempted twice in one run; one whose
        # missing intervals the plan evaluated has its final outcome (SQLMesh's run would only find
        # it up to date, at the cost of reading the state of every model again).
        settled = self.recorder.settled()
        runnable = {
            fqn: model
            for fqn, model in plannable.items()
            if fqn not in settled and not self.publisher.has_published(fqn)
        }
        restate = self.mode is MaterializeMode.RESTATE
        return self.state.work_left(runnable, ranged, restate=restate, time_range=self.selection.time_range)

    def _evaluate(self, work: WorkLeft) -> None:
        """Evaluate what is left: SQLMesh's run in waves, after a restatement's plan if one is asked."""
        if self.mode is MaterializeMode.RUN:
            for fqn in sorted(set(work.runnable) - work.missing_before):  # nothing to evaluate: final now
                if self._unpublished(fqn):
                    self.publisher.publish(fqn, self._outcome(fqn, work.runnable[fqn], work))
        to_run = work.to_evaluate
        if to_run:
            self.recorder.message(
                f"SQLMesh: {self.mode.value} of {len(to_run)} model(s) in '{self.environment}'"
                + (f", partitioned ones over {self.selection.time_range}" if work.in_range else "")
            )
        if self.mode is MaterializeMode.RESTATE:
            whole = [work.runnable[fqn].name for fqn in to_run if fqn not in work.in_range]
            if whole:
                self.planner.restate(whole, about=[fqn for fqn in to_run if fqn not in work.in_range])
            to_run = [fqn for fqn in to_run if fqn in work.in_range]  # their intervals are forgotten: missing
        for over_range, wave in waves(self.context, to_run, work.in_range):
            self._run_wave(wave, over_range, work)

    def _run_wave(self, wave: list[str], over_range: bool, work: WorkLeft) -> None:
        # One SQLMesh run does not know what an earlier one failed: skip what is below it here.
        stopped = self.recorder.settled()
        below = {fqn for fqn in wave if self.context.dag.upstream(fqn) & stopped}
        self.recorder.models_skipped(below)
        wave = [fqn for fqn in wave if fqn not in below]
        if not wave:
            return
        time_range = self.selection.time_range
        bounds = (
            {"start": time_range.start, "end": time_range.end, "ignore_cron": True}
            if over_range and time_range is not None
            else {}
        )
        environment = self.context.state_reader.get_environment(self.environment)
        status = self.context.run(
            self.environment,
            select_models=run_selection(
                self.context, environment, {fqn: work.runnable[fqn].name for fqn in wave}
            ),
            no_auto_upstream=True,
            **bounds,
        )
        if status.is_failure and not self.recorder.settled() & set(wave):
            raise RuntimeError(
                "SQLMesh's run reported a failure without naming a failed model; "
                "its log above says what went wrong."
            )

    def _skip_standalone_audits(self, stopped_upstream: set[str]) -> set[str]:
        """Skip each selected standalone audit reading a model this run did not complete, as SQLMesh does."""
        not_done = {fqn for fqn, outcome in self.publisher.published.items() if not outcome.done}
        names = standalone_audits_reading(self.context, self.selection, not_done | stopped_upstream)
        self.recorder.models_skipped(names)
        self._publish_all((name, skipped(name)) for name in sorted(names))
        return names

    def _outcome(self, fqn: str, model: Model, work: WorkLeft) -> ModelOutcome:
        """The outcome of a selected model once SQLMesh is done with it in this execution."""
        restated = self.mode is MaterializeMode.RESTATE and fqn not in work.not_restatable
        outcome = self.outcomes.evaluated(
            model,
            work.snapshots.get(fqn),
            self.recorder.events_of(fqn),
            # SQLMesh never restates a seed: it reloads one when its CSV file changes.
            had_work=fqn in work.missing_before or (restated and not model.kind.is_seed),
            ranged=fqn in work.in_range,
        )
        return self._with_wait(fqn, outcome)

    def _publish_finished(self, snapshot: Snapshot, events: ModelEvents) -> None:
        """Publish a selected model SQLMesh is done with in this pass: evaluated, or failed.

        A failure is final when it happens (its last planned batch failed). So
        is what it means below it when the model was one batch, in SQLMesh's
        ``run`` semantics: every interval below it depends on that batch, so
        SQLMesh skips each model downstream of it in this pass, and the
        execution skips them in later passes; each selected one is published
        as skipped at once, and steps waiting for them need not wait for the
        end of SQLMesh's pass. (A model of several batches may fail one day
        only; what is below its other days is left to SQLMesh's own report.)
        The same holds inside a plan's backfill, which evaluates with SQLMesh's
        scheduler too; a model whose table the plan then cannot create was
        published when its evaluation failed, with the database's error.

        Called on the thread SQLMesh reports from, and built there: with one
        concurrent task, SQLMesh's warehouse connection is one cursor shared
        by every thread, so a query from a thread of our own (the row count)
        would run inside SQLMesh's transactions.
        """
        model = self._selected.get(snapshot.name)
        if model is not None and self._unpublished(snapshot.name):
            ranged = self.selection.time_range is not None and self.selection.in_range(snapshot.name)
            outcome = self.outcomes.evaluated(model, snapshot, events, had_work=True, ranged=ranged)
            self.publisher.publish(snapshot.name, self._with_wait(snapshot.name, outcome))
        one_batch = events.evaluated_batches + events.failed_batches == 1
        if events.error is not None and one_batch and self.mode is MaterializeMode.RUN:
            below = sorted(set(self.context.dag.downstream(snapshot.name)) & set(self._selected))
            self._publish_all(
                (fqn, skipped(self._selected[fqn].name)) for fqn in below if self._unpublished(fqn)
            )

    def _unpublished(self, fqn: str) -> bool:
        """Whether ``fqn`` has no outcome yet: its first one is final (checked before building one,
        which may query the warehouse, outside the publisher's lock)."""
        return not self.publisher.has_published(fqn)

    def _publish_all(self, outcomes: Iterable[tuple[str, ModelOutcome]]) -> None:
        for fqn, outcome in outcomes:
            self.publisher.publish(fqn, outcome)

    def _blocked(self, models: dict[str, Model]) -> dict[str, str]:
        """Models that cannot be built in this run, each with why and what to do (:mod:`.blockers`)."""
        environment = self.planner.environment_or_origin()
        deployed = {s.name for s in environment.snapshots} if environment else set()
        return blocked_models(
            self.context,
            models,
            environment=self.environment,
            deployed=deployed,
            auto_plan=self.auto_plan,
            owned=self.owned,
        )


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
