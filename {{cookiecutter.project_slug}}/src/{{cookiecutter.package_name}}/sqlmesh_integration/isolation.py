"""Execute SQLMesh in a forked child process and relay its progress lines.

Why a child process:

- If the process executing SQLMesh dies (killed, out of memory, a crash in a
  database driver), the Dagster step that started it survives and fails with
  a message that says so: the run ends as failed instead of hanging.
- If the run is terminated (the UI's Terminate, GraphQL ``terminateRun``),
  Dagster interrupts the step; the step then stops the child, so nothing goes
  on evaluating models and writing SQLMesh state after the run ended, and the
  DuckDB file is free for the next run. On Linux the child is also bound to
  its parent (``PR_SET_PDEATHSIG``): a step process killed outright takes its
  SQLMesh execution with it.
- The child is forked, so it inherits the already loaded SQLMesh project: it
  costs milliseconds, not a second import.

An exception raised in the child comes back to the parent with its own type
(when it can be pickled) and the child's traceback as a note.

On macOS, forking a process that has loaded system frameworks is not safe
(Python itself stopped forking there by default), and on Windows there is no
fork: there the work runs in a thread of the step's process instead, with the
same contract except that a terminated run's execution finishes its current
model before the process exits.
"""

import contextlib
import ctypes
import multiprocessing
import os
import pickle
import queue
import signal
import sys
import threading
import traceback
import warnings
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, TypeVar

T = TypeVar("T")
Work = Callable[[Callable[[str], None]], T]

_PR_SET_PDEATHSIG = 1
_STOP_GRACE_SECONDS = 5


class ExecutionProcessDied(RuntimeError):
    """The child process ended without reporting a result."""


class SQLMeshExecutionError(RuntimeError):
    """An error raised in the child whose own type could not cross the process boundary."""


def run_isolated(work: Work[T], on_message: Callable[[str], None]) -> T:
    """Run ``work(send_line)`` in a child process; call ``on_message`` here for each line.

    If this call is interrupted (the run is terminated), the child is stopped
    before the interruption goes on.
    """
    if not _fork_is_safe():
        return _run_in_thread(work, on_message)
    fork = multiprocessing.get_context("fork")
    receiver, sender = fork.Pipe(duplex=False)
    with warnings.catch_warnings():
        # Python 3.12+ warns about forking a process that has threads. The child
        # only executes SQLMesh and writes to the pipe; it touches none of the
        # locks Dagster's threads may hold.
        warnings.simplefilter("ignore", DeprecationWarning)
        process = fork.Process(target=_child, args=(work, sender, os.getpid()), name="sqlmesh-execution")
        process.start()
    sender.close()
    reply: tuple[str, Any] | None = None
    try:
        with receiver:
            while True:
                try:
                    kind, payload = receiver.recv()
                except EOFError:  # the child has exited and everything it sent was read
                    break
                if kind == "line":
                    on_message(payload)
                else:
                    reply = (kind, payload)
        process.join()
    except BaseException:
        # Interrupted (the run was terminated) or failed while relaying: the
        # child must not go on evaluating models once this step is gone.
        stop(process)
        raise
    if reply is None:
        raise ExecutionProcessDied(
            f"The process executing SQLMesh (pid {process.pid}) {_how_it_ended(process.exitcode)} "
            "before it reported its results. Nothing of this run was recorded as done; "
            "SQLMesh's own state says which intervals were completed, so the next run "
            "evaluates only what is still missing."
        )
    kind, payload = reply
    if kind == "error":
        raise _rebuild_error(payload)
    return payload


def stop(process: BaseProcess) -> None:
    """Stop the child: SIGTERM, then SIGKILL if it is still alive after a grace period."""
    if process.is_alive():
        process.terminate()
        process.join(_STOP_GRACE_SECONDS)
    if process.is_alive():
        process.kill()
    process.join()


def _fork_is_safe() -> bool:
    return sys.platform != "darwin" and "fork" in multiprocessing.get_all_start_methods()


def _child(work: Work[Any], sender: Connection, parent_pid: int) -> None:
    # The parent's signal handlers (Dagster's, which turn SIGTERM and SIGINT into
    # exceptions raised somewhere inside SQLMesh) are inherited by a fork: restore
    # the defaults, so that stopping the child ends it at once.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    _die_with_parent(parent_pid)
    send_lock = threading.Lock()

    def send(message: tuple[str, Any]) -> None:
        # SQLMesh reports from its worker threads; a pipe message must be written whole.
        with send_lock:
            sender.send(message)

    try:
        value = work(lambda line: send(("line", line)))
    except BaseException as error:  # reported to the parent, which decides what fails
        send(("error", _portable_error(error)))
    else:
        send(("value", value))
    finally:
        sender.close()


def _die_with_parent(parent_pid: int) -> None:
    """Ask Linux to kill this process when the step that started it dies."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        os._exit(1)


def _portable_error(error: BaseException) -> dict[str, Any]:
    try:
        pickled: bytes | None = pickle.dumps(error)
        pickle.loads(pickled)  # some exceptions pickle but cannot be rebuilt
    except Exception:
        pickled = None
    return {
        "pickled": pickled,
        "type": f"{type(error).__module__}.{type(error).__qualname__}",
        "message": str(error),
        "traceback": "".join(traceback.format_exception(error)),
    }


def _rebuild_error(payload: dict[str, Any]) -> BaseException:
    error: BaseException
    if payload["pickled"] is not None:
        error = pickle.loads(payload["pickled"])
    else:
        error = SQLMeshExecutionError(f"{payload['type']}: {payload['message']}")
    error.add_note(f"Raised in the process executing SQLMesh:\n{payload['traceback']}")
    return error


def _how_it_ended(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        return f"was killed by signal {signal.Signals(-exitcode).name}"
    return f"exited with code {exitcode}"


def _run_in_thread(work: Work[T], on_message: Callable[[str], None]) -> T:
    """The same contract in a thread: lines are relayed from the caller's thread only."""
    lines: queue.Queue[str] = queue.Queue()
    reply: dict[str, Any] = {}

    def target() -> None:
        try:
            reply["value"] = work(lines.put)
        except BaseException as error:
            reply["error"] = error

    thread = threading.Thread(target=target, name="sqlmesh-execution", daemon=True)
    thread.start()
    while thread.is_alive() or not lines.empty():
        try:
            on_message(lines.get(timeout=0.2))
        except queue.Empty:
            pass
    if "error" in reply:
        raise reply["error"]
    return reply["value"]
