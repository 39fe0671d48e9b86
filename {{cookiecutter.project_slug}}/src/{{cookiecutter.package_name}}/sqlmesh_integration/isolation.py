"""Execute SQLMesh in a forked child process and relay its progress lines.

If the process executing SQLMesh dies (killed, out of memory, a crash in a
database driver), the Dagster step that started it survives and fails with a
message that says so: the run ends as failed instead of hanging with a dead
run worker. The child is forked, so it inherits the already loaded SQLMesh
project; it costs milliseconds, not a second import. It also opens the
warehouse, and its exit releases DuckDB's file lock whatever happens.

Where ``fork`` is not available, the work runs in a thread of this process.
"""

import multiprocessing
import queue
import signal
import threading
import warnings
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any, TypeVar

T = TypeVar("T")
Work = Callable[[Callable[[str], None]], T]


class ExecutionProcessDied(RuntimeError):
    """The child process ended without reporting a result."""


def run_isolated(work: Work[T], on_message: Callable[[str], None]) -> T:
    """Run ``work(send_line)`` in a child process; call ``on_message`` here for each line.

    Exceptions raised by ``work`` come back as ``RuntimeError`` with their text.
    """
    if "fork" not in multiprocessing.get_all_start_methods():
        return _run_in_thread(work, on_message)
    fork = multiprocessing.get_context("fork")
    receiver, sender = fork.Pipe(duplex=False)
    with warnings.catch_warnings():
        # Python 3.12+ warns about forking a process that has threads. The child
        # only executes SQLMesh and writes to the pipe; it touches none of the
        # locks Dagster's threads may hold.
        warnings.simplefilter("ignore", DeprecationWarning)
        process = fork.Process(target=_child, args=(work, sender), name="sqlmesh-execution")
        process.start()
    sender.close()
    reply: tuple[str, Any] | None = None
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
    if reply is None:
        raise ExecutionProcessDied(
            f"The process executing SQLMesh (pid {process.pid}) {_how_it_ended(process.exitcode)} "
            "before it reported its results. Nothing of this run was recorded as done; "
            "SQLMesh's own state says which intervals were completed, so the next run "
            "evaluates only what is still missing."
        )
    kind, payload = reply
    if kind == "error":
        raise RuntimeError(payload)
    return payload


def _child(work: Work[Any], sender: Connection) -> None:
    try:
        value = work(lambda line: sender.send(("line", line)))
    except BaseException as error:  # reported to the parent, which decides what fails
        sender.send(("error", str(error) or type(error).__name__))
    else:
        sender.send(("value", value))
    finally:
        sender.close()


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
            reply["error"] = str(error) or type(error).__name__

    thread = threading.Thread(target=target, name="sqlmesh-execution", daemon=True)
    thread.start()
    while thread.is_alive() or not lines.empty():
        try:
            on_message(lines.get(timeout=0.2))
        except queue.Empty:
            pass
    if "error" in reply:
        raise RuntimeError(reply["error"])
    return reply["value"]
