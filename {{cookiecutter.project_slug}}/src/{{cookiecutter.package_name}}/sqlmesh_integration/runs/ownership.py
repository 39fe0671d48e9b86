"""Owning a run's SQLMesh execution: starting it, watching it, and waiting for it before exiting.

The process whose step claimed an execution owns it. It starts SQLMesh in a
child process (see :mod:`.isolation`), whose entry point is
:func:`execute_to_stream`; a watcher thread stops the child if the run is
terminated and records how it ended if it dies; and the resource's
teardown waits for it, since a process must not exit while SQLMesh works.
"""

import threading
import traceback
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from dagster import DagsterInstance, DagsterRunStatus

from ..execution.execution import MaterializeMode
from ..execution.execution_stream import ExecutionEnded, StreamState, StreamWriter
from ..execution.selection import RunSelection
from ..project.resource import SQLMeshResource
from .isolation import IsolatedExecution, start_isolated
from .store import Claim

_STOPPING = {DagsterRunStatus.CANCELING, DagsterRunStatus.CANCELED}
OWNER_CHECK_SECONDS = 1.0
_owned: dict[str, list["OwnedExecution"]] = {}
"""The executions this process started, by run id."""


@dataclass
class OwnedExecution:
    """An execution this process started: watched until it ends."""

    claim: Claim
    execution: IsolatedExecution
    watcher: threading.Thread
    general_lines_logged: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def log_general_lines(self, state: StreamState, log: Callable[[str], None]) -> None:
        """Log the lines about the whole execution that no step of this process has logged yet."""
        with self.lock:
            general = state.lines_about.get(None, [])
            for line in general[self.general_lines_logged :]:
                log(line.text)
            self.general_lines_logged = len(general)


def start_execution(
    sqlmesh: SQLMeshResource,
    selection: RunSelection,
    mode: MaterializeMode,
    not_done: set[str],
    claim: Claim,
    instance: DagsterInstance,
    run_id: str,
) -> None:
    """Start the claimed execution in a child process, owned and watched by this one."""
    writer = claim.store.writer(claim)
    execution = start_isolated(lambda: execute_to_stream(sqlmesh, selection, mode, not_done, writer, run_id))
    watcher = threading.Thread(
        target=watch,
        args=(execution, writer, claim, lambda: _is_stopping(instance, run_id)),
        name=f"sqlmesh-execution-{claim.number}-watcher",
        daemon=True,
    )
    watcher.start()
    _owned.setdefault(run_id, []).append(OwnedExecution(claim, execution, watcher))


def execute_to_stream(
    sqlmesh: SQLMeshResource,
    selection: RunSelection,
    mode: MaterializeMode,
    not_done: Collection[str],
    writer: StreamWriter,
    run_id: str | None = None,
) -> None:
    """The child's entry point: execute SQLMesh, appending to the stream, and end it whatever happens."""
    try:
        plan_applied = sqlmesh.execute(selection, mode, writer, not_done, run_id)
    except BaseException as error:  # reported by every step still waiting, see reporting
        notes = "".join(f"\n{note}" for note in getattr(error, "__notes__", []))
        writer.append(
            ExecutionEnded(
                error=f"{error}{notes}",
                detail="".join(traceback.format_exception(error)),
            )
        )
    else:
        writer.append(ExecutionEnded(plan_applied=plan_applied))


def watch(
    execution: IsolatedExecution, writer: StreamWriter, claim: Claim, is_stopping: Callable[[], bool]
) -> None:
    """Until the execution ends: stop it if the run is being terminated; record how it ended."""
    while not execution.wait(OWNER_CHECK_SECONDS):
        try:
            stopping = is_stopping()
        except Exception:  # the instance may be unreachable for a moment; look again next time
            stopping = False
        if stopping:
            execution.stop()
    if claim.store.reader(claim).read().end is None:
        writer.append(
            ExecutionEnded(
                error=f"The process executing SQLMesh (pid {execution.pid}) {execution.how_it_ended()} "
                "before it ended its execution. Models it reported stay reported; SQLMesh's own "
                "state says which intervals were completed, so the next run evaluates only what "
                "is still missing."
            )
        )
    claim.store.release(claim)


def wait_for_owned(run_id: str | None, log: Callable[[str], None], log_error: Callable[[str], None]) -> None:
    """Wait for the executions this process started for ``run_id`` (None: every run).

    Logs what each execution said about the run as a whole since the last
    step read it, and how it ended if it ended with an error.
    """
    for key in [key for key in _owned if run_id in (None, key)]:
        for owned in _owned.pop(key):
            try:
                while owned.watcher.is_alive():
                    owned.watcher.join(0.5)
            except BaseException:
                owned.execution.stop()
                raise
            state = owned.claim.store.reader(owned.claim).read()
            owned.log_general_lines(state, log)
            end = state.end
            if end is not None and end.error:
                log_error(f"SQLMesh's execution ended with an error: {end.detail or end.error}")


def owned_here(claim: Claim) -> OwnedExecution | None:
    """The execution of ``claim``, if this process owns it."""
    for executions in _owned.values():
        for owned in executions:
            if owned.claim.events == claim.events:
                return owned
    return None


def _is_stopping(instance: DagsterInstance, run_id: str) -> bool:
    run = instance.get_run_by_id(run_id)
    return run is not None and run.status in _STOPPING
