"""One SQLMesh execution per Dagster run, shared by every step of the run, model by model.

Dagster's default executor runs each asset step in its own process, so
in-memory state cannot be shared between the steps of a run. The execution
is therefore recorded in a store every step of the run reaches (:mod:`.store`),
chosen by where the steps execute (:mod:`.placement`): by default a run-scoped
folder of the Dagster instance's storage,

    <storage>/sqlmesh_runs/<run_id>/<project>/     (the resource's name, ``sqlmesh`` by default)
        execution.lock      held while a step looks for, or claims, an execution (see claims)
        started-<n>.json    the models execution n covers, and the process that owns it
        events-<n>.jsonl    execution n as a stream of events (see execution_stream)

and, when the steps run on hosts of their own, the same records in tables of
SQLMesh's PostgreSQL state (:mod:`.postgres_store`).

The first step of the run claims an execution for every model of the run
(not only its own) and starts SQLMesh in a child process; every step, that
one included, then reads the stream until its own model's outcome is there,
reports it and finishes, while SQLMesh goes on with the others. So a step
below a model starts as soon as SQLMesh has finished that model.

The process that started the execution owns it: it stops it if the run is
terminated, records how it ended if it dies, and does not exit before it has
ended (its resource teardown waits; Dagster has already been told that the
step succeeded, so the run goes on). A stream that never ends while its
owner is gone means the owner was killed: the steps still waiting fail
rather than executing SQLMesh a second time.

A run that also holds assets SQLMesh does not build (an ingestion step, a
Python asset SQLMesh reads as an external table) may need more than one
execution: a model below such an asset is left to a later execution, made
by the first step that needs it once that asset's step has succeeded (so
SQLMesh reads the fresh table), and after the earlier executions have ended.
A run of SQLMesh assets only always has one. So does each project of a run
of two (two components splitting one SQLMesh project, each in its own folder
here): a model below the other project's waits for that project's execution
to build what it reads, not for the steps that report it (see
:mod:`.claims`), unless a chain goes from one to the other and back.

A step goes one way through these modules: :mod:`.placement` (which store),
:mod:`.claims` (which execution covers its model; claiming a new one),
:mod:`.ownership` (starting it in a child process and watching it),
:mod:`.following` (reading its stream until the model's outcome is there),
:mod:`.pruning` (old runs' folders).
"""

import functools

from dagster import ConfigurableResource, Failure, InitResourceContext
from pydantic import Field

from ..execution.execution import MaterializeMode
from ..execution.execution_stream import ExecutionEnded
from ..execution.selection import RunSelection, StepContext, run_selection
from ..project.resource import SQLMeshResource, gateway_connections
from ..vocabulary.constants import MODE_TAG
from ..vocabulary.outcomes import ExecutionResults
from .claims import ready_models, wait_for_foreign_steps
from .following import follow
from .ownership import start_execution, wait_for_owned
from .placement import RunStoreSetting, run_store
from .pruning import run_is_finished
from .store import Claim, RunStore


class SQLMeshRunResults(ConfigurableResource):
    """Executes SQLMesh once per Dagster run and hands each step its own model's outcome."""

    mode: str = Field(
        default=MaterializeMode.RUN.value,
        description=(
            "What materializing means, unless the run has a 'sqlmesh/mode' tag: 'run' evaluates "
            "missing intervals only (SQLMesh's own run, what a schedule wants); 'restate' "
            "re-evaluates exactly the selected models."
        ),
    )
    keep_finished_runs: int = Field(
        default=20, description="How many finished runs' result folders to keep for inspection."
    )
    run_store: str = Field(
        default=RunStoreSetting.AUTO.value,
        description=(
            "Where the steps of a run find its SQLMesh execution: 'auto' (files on the run's host, or "
            "SQLMesh's PostgreSQL state under an executor that runs steps on other hosts) or "
            "'state_database' (the state, whatever the executor). See runs/placement.py."
        ),
    )

    def get_or_execute(self, context: StepContext, sqlmesh: SQLMeshResource, fqn: str) -> ExecutionResults:
        """``fqn``'s outcome in the run's execution that covers it, as soon as it is final.

        Starts that execution if no step has yet.
        """
        store = self._store(context, sqlmesh)
        run_id = context.run.run_id
        mode = self._mode(context)

        # Read only by the step that starts an execution: every other step just reads.
        @functools.cache
        def selection() -> RunSelection:
            return run_selection(context, sqlmesh.name)

        run_dir = store.run_dir(context.instance, run_id, sqlmesh.name)
        claim = store.claim(
            run_dir,
            fqn,
            ready=lambda claimed: ready_models(context, selection(), claimed, store, run_dir),
            before_claiming=lambda claimed: wait_for_foreign_steps(
                context, selection(), claimed, store, run_dir
            ),
        )
        if claim.to_start:
            try:
                self._start(context, sqlmesh, mode, selection(), claim)
            except BaseException as error:
                # Steps waiting for this execution must not wait for ever.
                store.writer(claim).append(ExecutionEnded(error=f"SQLMesh was not started: {error}"))
                store.release(claim)
                raise
            self._prune(context, store, keep=run_id)
        state = follow(claim, fqn, context.log.info)
        if fqn in state.outcomes:
            # Reported as SQLMesh did it, even if the execution failed later on.
            return ExecutionResults({fqn: state.outcomes[fqn]})
        end = state.end or ExecutionEnded()
        return ExecutionResults(
            {}, error=end.error or f"SQLMesh's execution for this run did not report {fqn}."
        )

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        """Wait for the executions this process started: a process must not exit while SQLMesh works.

        Dagster has already recorded the step (or the run's steps) as done;
        only the process waits, and logs what the execution said about the
        run as a whole since the last step read it.
        """
        wait_for_owned(context.run.run_id if context.run else None, context.log.info, context.log.error)

    def _mode(self, context: StepContext) -> MaterializeMode:
        requested = context.run.tags.get(MODE_TAG, self.mode)
        try:
            return MaterializeMode(requested)
        except ValueError:
            allowed = ", ".join(repr(mode.value) for mode in MaterializeMode)
            raise Failure(
                f"SQLMesh mode {requested!r} (tag '{MODE_TAG}' or resource config 'mode') is not "
                f"allowed: use one of {allowed}.",
                allow_retries=False,
            ) from None

    def _start(
        self,
        context: StepContext,
        sqlmesh: SQLMeshResource,
        mode: MaterializeMode,
        selection: RunSelection,
        claim: Claim,
    ) -> None:
        run_id = context.run.run_id
        selection = selection.restricted_to(set(claim.covers))
        # Executions of one run never overlap (DuckDB admits one writer): wait for the earlier ones.
        earlier = [
            (done, follow(done, None, context.log.info))
            for done in claim.store.started(claim.run_dir)
            if done.number < claim.number
        ]
        audit_only = selection.to_audit_only
        after = sorted(set().union(*(s.waits_for for s in selection.models.values())))
        context.log.info(
            f"SQLMesh execution for run {run_id}: {len(selection.to_materialize)} model(s), mode "
            f"'{mode.value}'{f', audits of {len(audit_only)} more' if audit_only else ''}, "
            f"started by step '{context.op_execution_context.op_handle}' and shared with every step "
            "of the run" + (f" that needs it (after step(s) {', '.join(after)})" if after else "")
        )
        # Models below what an earlier execution of this run failed, skipped or could not build.
        not_done = {
            fqn for _, state in earlier for fqn, outcome in state.outcomes.items() if not outcome.done
        }
        not_done |= {
            fqn
            for done, state in earlier
            if state.end is not None and state.end.error
            for fqn in done.covers
            if fqn not in state.outcomes
        }
        start_execution(sqlmesh, selection, mode, not_done, claim, context.instance, run_id)

    def _store(self, context: StepContext, sqlmesh: SQLMeshResource) -> RunStore:
        """Where this run's steps share its execution; fails, before anything is claimed, if nowhere."""
        try:
            setting = RunStoreSetting(self.run_store)
        except ValueError:
            allowed = ", ".join(repr(setting.value) for setting in RunStoreSetting)
            raise Failure(
                f"run_store {self.run_store!r} is not allowed: use one of {allowed}.", allow_retries=False
            ) from None
        warehouse, state, schema = gateway_connections(sqlmesh.project_dir, sqlmesh.gateway)
        executor = context.op_execution_context.job_def.executor_def.name
        return run_store(executor, setting, warehouse, state, schema)

    def _prune(self, context: StepContext, store: RunStore, keep: str) -> None:
        error = store.prune(
            context.instance,
            keep=keep,
            keep_finished=self.keep_finished_runs,
            is_finished=lambda run_id: run_is_finished(context.instance, run_id),
        )
        if error is not None:
            context.log.warning(f"Could not prune old SQLMesh result records: {error}")
