"""One SQLMesh execution per Dagster run, shared by every step of the run, model by model.

Dagster's default executor runs each asset step in its own process, so
in-memory state cannot be shared between the steps of a run. The execution
therefore lives in a run-scoped folder of the Dagster instance's storage:

    <storage>/sqlmesh_runs/<run_id>/<project>/     (the resource's name, ``sqlmesh`` by default)
        execution.lock      held while a step looks for, or claims, an execution
        started-<n>.json    the models execution n covers, and the process that owns it
        events-<n>.jsonl    execution n as a stream of events (see execution_stream)

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
A run of SQLMesh assets only always has one.
"""

import functools
import json
import os
import shutil
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from dagster import (
    ConfigurableResource,
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    Failure,
    InitResourceContext,
)
from filelock import FileLock
from pydantic import Field

from .execution_stream import (
    ExecutionEnded,
    LogLine,
    OutcomePublisher,
    StreamReader,
    StreamState,
    StreamWriter,
)
from .isolation import IsolatedExecution, start_isolated
from .outcomes import ExecutionResults
from .resource import MaterializeMode, SQLMeshResource
from .selection import RunSelection, StepContext, run_selection

MODE_TAG = "sqlmesh/mode"
_FINISHED = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}
_STOPPING = {DagsterRunStatus.CANCELING, DagsterRunStatus.CANCELED}
_POLL_SECONDS = 0.05
_OWNER_CHECK_SECONDS = 1.0
_FOREIGN_POLL_SECONDS = 0.5
_REMEMBERED_STREAMS = 64
_readers: dict[Path, StreamReader] = {}
_owned: dict[str, list["OwnedExecution"]] = {}


@dataclass(frozen=True)
class Claim:
    """An execution of the run that covers a model: found, or claimed just now to be started."""

    run_dir: Path
    number: int
    covers: list[str]
    owner: int
    """The process that started it (or will): it stops it, and records how it ended."""
    to_start: bool

    @property
    def events(self) -> Path:
        return self.run_dir / f"events-{self.number}.jsonl"


@dataclass
class OwnedExecution:
    """An execution this process started: watched until it ends."""

    claim: Claim
    execution: IsolatedExecution
    watcher: threading.Thread
    general_lines_logged: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


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

    def get_or_execute(self, context: StepContext, sqlmesh: SQLMeshResource, fqn: str) -> ExecutionResults:
        """``fqn``'s outcome in the run's execution that covers it, as soon as it is final.

        Starts that execution if no step has yet.
        """
        run_id = context.run.run_id
        mode = self._mode(context)
        runs_dir = Path(context.instance.storage_directory()) / "sqlmesh_runs"

        # Read only by the step that starts an execution: every other step just reads.
        @functools.cache
        def selection() -> RunSelection:
            return run_selection(context, sqlmesh.name)

        claim = claim_execution(
            runs_dir / run_id / sqlmesh.name, fqn, ready=lambda claimed: _ready(context, selection(), claimed)
        )
        if claim.to_start:
            try:
                self._start(context, sqlmesh, mode, selection(), claim)
            except BaseException as error:
                # Steps waiting for this execution must not wait for ever.
                StreamWriter(claim.events).append(ExecutionEnded(error=f"SQLMesh was not started: {error}"))
                raise
            self._prune(context, runs_dir, keep=run_id)
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
        run_id = context.run.run_id if context.run else None
        for key in [key for key in _owned if run_id in (None, key)]:
            for owned in _owned.pop(key):
                try:
                    while owned.watcher.is_alive():
                        owned.watcher.join(0.5)
                except BaseException:
                    owned.execution.stop()
                    raise
                state = _reader(owned.claim.events).read()
                _log_general_lines(owned, state, context.log.info)
                end = state.end
                if end is not None and end.error:
                    context.log.error(f"SQLMesh's execution ended with an error: {end.detail or end.error}")

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
            for done in _started(claim.run_dir)
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
        writer = StreamWriter(claim.events)
        execution = start_isolated(lambda: execute_to_stream(sqlmesh, selection, mode, not_done, writer))
        instance = context.instance
        watcher = threading.Thread(
            target=watch,
            args=(execution, writer, claim, lambda: _is_stopping(instance, run_id)),
            name=f"sqlmesh-execution-{claim.number}-watcher",
            daemon=True,
        )
        watcher.start()
        _owned.setdefault(run_id, []).append(OwnedExecution(claim, execution, watcher))

    def _prune(self, context: StepContext, runs_dir: Path, keep: str) -> None:
        error = prune_finished_runs(
            runs_dir,
            keep=keep,
            keep_finished=self.keep_finished_runs,
            is_finished=lambda run_id: _is_finished(context, run_id),
        )
        if error is not None:
            context.log.warning(f"Could not prune old SQLMesh result folders in {runs_dir}: {error}")


def execute_to_stream(
    sqlmesh: SQLMeshResource,
    selection: RunSelection,
    mode: MaterializeMode,
    not_done: set[str],
    writer: StreamWriter,
) -> None:
    """Execute SQLMesh and append everything it reports to the stream, ending it whatever happens."""
    publisher = OutcomePublisher(writer)
    try:
        # A run where an asset that is not SQLMesh's reads what SQLMesh builds gets every outcome once
        # SQLMesh is done: that asset must not read a view a plan promotes only at its end, nor a
        # DuckDB file SQLMesh holds until it closes it. Assets feeding SQLMesh ran before it started.
        with publisher.holding(bool(selection.readers_of_sqlmesh)):
            plan_applied = sqlmesh.execute(selection, mode, publisher, not_done)
    except BaseException as error:  # reported by every step still waiting, see factory
        notes = "".join(f"\n{note}" for note in getattr(error, "__notes__", []))
        writer.append(
            ExecutionEnded(
                error=f"{error}{notes}",
                detail="".join(traceback.format_exception(error)),
            )
        )
    else:
        writer.append(ExecutionEnded(plan_applied=plan_applied))


def claim_execution(run_dir: Path, fqn: str, ready: Callable[[set[str]], set[str]]) -> Claim:
    """The execution of the run that covers ``fqn``; claimed now, if none does yet.

    Safe across the processes of a run (a file lock). A new execution covers
    every model ``ready`` allows (never fewer than ``fqn`` itself): models no
    earlier execution claimed whose upstream steps have succeeded.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(run_dir / "execution.lock"):
        claimed: set[str] = set()
        started = _started(run_dir)
        for claim in started:
            if fqn in claim.covers:
                return claim
            claimed |= set(claim.covers)
        covers = sorted(ready(claimed) | {fqn})
        number = len(started) + 1
        _write_atomically(
            run_dir / f"started-{number}.json", json.dumps({"covers": covers, "owner": os.getpid()})
        )
        return Claim(run_dir, number, covers, os.getpid(), to_start=True)


def follow(claim: Claim, fqn: str | None, log: Callable[[str], None]) -> StreamState:
    """Read the execution's stream until ``fqn``'s outcome is there (``None``: until it ends).

    Logs the lines about ``fqn``; a step of the process that started the
    execution also logs the lines about the whole execution not logged yet.
    Fails if the process that owns the execution is gone without ending it.
    """
    reader = _reader(claim.events)
    owned = _owned_here(claim)
    logged = 0
    last_owner_check = time.monotonic()
    try:
        while True:
            state = reader.read()
            own_lines = state.lines_about.get(fqn, []) if fqn is not None else []
            if logged < len(own_lines):
                log(_one_message(own_lines[logged:]))
            logged = len(own_lines)
            if owned is not None:
                _log_general_lines(owned, state, log)
            if (fqn is not None and fqn in state.outcomes) or state.end is not None:
                return state
            if time.monotonic() - last_owner_check > _OWNER_CHECK_SECONDS:
                last_owner_check = time.monotonic()
                if not _alive(claim.owner) and reader.read().end is None:
                    raise Failure(
                        "The process that was executing SQLMesh for this run stopped before it "
                        "ended its execution. Re-execute the run (from failure) to execute SQLMesh "
                        "again; SQLMesh's own state says which intervals were completed.",
                        allow_retries=False,
                    )
            time.sleep(_POLL_SECONDS)
    except BaseException:
        # Interrupted (the run was terminated): SQLMesh must not go on once the run is over.
        if owned is not None and reader.read().end is None:
            owned.execution.stop()
        raise


def _one_message(lines: list[LogLine]) -> str:
    """The lines read in one go, as one log message: each Dagster log event costs a write.

    An interim line followed by another is left out (the later line says more).
    """
    last = len(lines) - 1
    return "\n".join(line.text for i, line in enumerate(lines) if not (line.interim and i < last))


def _started(run_dir: Path) -> list[Claim]:
    """The run's executions so far, in order, from their ``started`` files."""
    claims = []
    for path in sorted(run_dir.glob("started-*.json"), key=_number):
        record = json.loads(path.read_text())
        claims.append(Claim(run_dir, _number(path), record["covers"], record["owner"], to_start=False))
    return claims


def watch(
    execution: IsolatedExecution, writer: StreamWriter, claim: Claim, is_stopping: Callable[[], bool]
) -> None:
    """Until the execution ends: stop it if the run is being terminated; record how it ended."""
    while not execution.wait(_OWNER_CHECK_SECONDS):
        try:
            stopping = is_stopping()
        except Exception:  # the instance may be unreachable for a moment; look again next time
            stopping = False
        if stopping:
            execution.stop()
    if _reader(claim.events).read().end is None:
        writer.append(
            ExecutionEnded(
                error=f"The process executing SQLMesh (pid {execution.pid}) {execution.how_it_ended()} "
                "before it ended its execution. Models it reported stay reported; SQLMesh's own "
                "state says which intervals were completed, so the next run evaluates only what "
                "is still missing."
            )
        )


def _log_general_lines(owned: OwnedExecution, state: StreamState, log: Callable[[str], None]) -> None:
    with owned.lock:
        general = state.lines_about.get(None, [])
        for line in general[owned.general_lines_logged :]:
            log(line.text)
        owned.general_lines_logged = len(general)


def _owned_here(claim: Claim) -> OwnedExecution | None:
    for executions in _owned.values():
        for owned in executions:
            if owned.claim.events == claim.events:
                return owned
    return None


def _reader(path: Path) -> StreamReader:
    """This process's reader of a stream: the steps it runs read each event once between them."""
    reader = _readers.get(path)
    if reader is None:
        reader = _readers[path] = StreamReader(path)
        while len(_readers) > _REMEMBERED_STREAMS:
            del _readers[next(iter(_readers))]
    return reader


def _alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie awaiting its parent counts as ended)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # no /proc (macOS): the signal said it exists
    return state != "Z"


def _is_stopping(instance: DagsterInstance, run_id: str) -> bool:
    run = instance.get_run_by_id(run_id)
    return run is not None and run.status in _STOPPING


def prune_finished_runs(
    runs_dir: Path, keep: str, keep_finished: int, is_finished: Callable[[str], bool]
) -> Exception | None:
    """Delete result folders of finished runs beyond the newest ``keep_finished``; return what went wrong.

    Housekeeping never fails a step: with several runs at once, another run
    may be pruning, or writing, the same folder. A run that is not finished
    keeps its folder.
    """
    try:
        finished = [
            folder
            for folder in sorted(runs_dir.iterdir(), key=_modified, reverse=True)
            if folder.is_dir() and folder.name != keep and is_finished(folder.name)
        ]
        for folder in finished[keep_finished:]:
            shutil.rmtree(folder, ignore_errors=True)
    except Exception as error:
        return error
    return None


def _ready(context: StepContext, selection: RunSelection, claimed: set[str]) -> set[str]:
    """Models of the run that no execution has claimed and whose upstream steps have all succeeded.

    Steps that are not SQLMesh's and that models of the run wait for, if the
    executor has already started them, are waited for first (they run in
    their own process, and SQLMesh steps start after them, see
    ``SQLMESH_OP_TAGS``): so an ingestion asset and the models below it get
    one execution, as a run of SQLMesh models only does.
    """
    waiting = {fqn: s for fqn, s in selection.models.items() if fqn not in claimed}
    foreign = set().union(*(s.waits_for for s in waiting.values()))
    if not foreign:
        return set(waiting)
    said = False
    while True:
        started, ended, succeeded = _step_states(context, foreign)
        running = sorted(started - ended)
        if not running:
            break
        if not said:
            context.log.info(
                f"Waiting for step(s) {', '.join(running)}, which SQLMesh models of this run read, "
                "so that one SQLMesh execution covers them."
            )
            said = True
        time.sleep(_FOREIGN_POLL_SECONDS)
    return {fqn for fqn, s in waiting.items() if s.waits_for <= succeeded}


def _step_states(context: StepContext, steps: set[str]) -> tuple[set[str], set[str], set[str]]:
    """Which of ``steps`` the run has started, which have ended, and which succeeded."""
    kinds = {
        DagsterEventType.STEP_WORKER_STARTING,
        DagsterEventType.STEP_START,
        DagsterEventType.STEP_SUCCESS,
        DagsterEventType.STEP_FAILURE,
        DagsterEventType.STEP_SKIPPED,
    }
    started: set[str] = set()
    ended: set[str] = set()
    succeeded: set[str] = set()
    for record in context.instance.all_logs(context.run.run_id, of_type=kinds):
        event = record.dagster_event
        if event is None or event.step_key not in steps:
            continue
        started.add(event.step_key)
        if event.event_type in (
            DagsterEventType.STEP_SUCCESS,
            DagsterEventType.STEP_FAILURE,
            DagsterEventType.STEP_SKIPPED,
        ):
            ended.add(event.step_key)
        if event.event_type == DagsterEventType.STEP_SUCCESS:
            succeeded.add(event.step_key)
    return started, ended, succeeded


def _number(path: Path) -> int:
    return int(path.stem.rsplit("-", 1)[1])


def _modified(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:  # deleted meanwhile
        return 0.0


def _is_finished(context: StepContext, run_id: str) -> bool:
    run = context.instance.get_run_by_id(run_id)
    return run is None or run.status in _FINISHED


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(text)
    temporary.replace(path)
