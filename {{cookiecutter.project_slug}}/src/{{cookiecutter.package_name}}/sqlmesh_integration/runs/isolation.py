"""Execute SQLMesh in a forked child process that the step can watch and stop.

Why a child process:

- If the process executing SQLMesh dies (killed, out of memory, a crash in a
  database driver), the Dagster process that started it survives and says
  so: the steps still waiting fail with that message instead of hanging.
- If the run is terminated (the UI's Terminate, GraphQL ``terminateRun``),
  the child is stopped, so nothing goes on evaluating models and writing
  SQLMesh state after the run ended, and the DuckDB file is free for the
  next run. On Linux the child is also bound to its parent
  (``PR_SET_PDEATHSIG``): a process killed outright takes its SQLMesh
  execution with it.
- The child is forked, so it inherits the already loaded SQLMesh project: it
  costs milliseconds, not a second import. It loads and plans without
  SQLMesh's pool of worker processes (see :func:`_sqlmesh_in_this_process`).

The child reports through the run's execution stream (a file, see
:mod:`..execution.execution_stream`), not through this module: what it reported before
dying stays reported.

On macOS, forking a process that has loaded system frameworks is not safe
(Python itself stopped forking there by default), and on Windows there is no
fork: there the work runs in a thread of the step's process instead, with the
same contract except that a stopped execution finishes its current model
before the process exits.
"""

import contextlib
import ctypes
import gc
import multiprocessing
import os
import signal
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from multiprocessing.process import BaseProcess
from typing import Protocol

from sqlmesh.core import constants as sqlmesh_constants

Work = Callable[[], None]

_PR_SET_PDEATHSIG = 1
_STOP_GRACE_SECONDS = 5


class IsolatedExecution(Protocol):
    """A running execution: wait for it, stop it, say how it ended."""

    @property
    def pid(self) -> int: ...

    def wait(self, timeout: float | None = None) -> bool:
        """Wait up to ``timeout`` seconds; whether the execution has ended."""
        ...

    def stop(self) -> None: ...

    def how_it_ended(self) -> str | None:
        """None if the work returned; otherwise how the process ended ("was killed by signal SIGKILL")."""
        ...


def start_isolated(work: Work) -> IsolatedExecution:
    """Start ``work()`` in a forked child process (a thread where forking is not safe)."""
    if not _fork_is_safe():
        return _ThreadExecution(work)
    fork = multiprocessing.get_context("fork")
    with warnings.catch_warnings(), _collector_paused() as collecting, _allowed_children():
        # Python 3.12+ warns about forking a process that has threads. The child
        # only executes SQLMesh and appends to a file; it touches none of the
        # locks Dagster's threads may hold.
        warnings.simplefilter("ignore", DeprecationWarning)
        process = fork.Process(target=_child, args=(work, os.getpid(), collecting), name="sqlmesh-execution")
        process.start()
    return _ProcessExecution(process)


@contextlib.contextmanager
def _collector_paused() -> Iterator[bool]:
    """Fork with the garbage collector off; yield whether it was on, for the child to turn it back on.

    A DuckDB connection this process no longer uses (a test's, another
    project's) may still await collection. Collected in the child, its
    destructor joins DuckDB's worker threads, which a fork does not copy: the
    child would wait for ever. The child therefore freezes everything it
    inherits (:func:`_child`) before its collector runs again, and it never
    collects them (it ends with ``os._exit``). This process only pauses its
    collector for the fork: what it had frozen itself (the code location, see
    ``definitions.py``) stays frozen, and the rest is collected here as before.
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield collecting
    finally:
        if collecting:
            gc.enable()


@contextlib.contextmanager
def _allowed_children() -> Iterator[None]:
    """Start the child even from a process that multiprocessing calls daemonic.

    A Celery worker's pool processes are marked daemonic, and multiprocessing
    refuses children to a daemonic process because it would leave them behind
    when it ends. This child cannot be left behind: it is killed with its
    parent (``PR_SET_PDEATHSIG``), and its parent waits for it before a step
    ends. The mark is restored as soon as the child has started.
    """
    config = multiprocessing.current_process()._config  # noqa: SLF001 (no public way to ask this)
    daemonic = config.pop("daemon", None)
    try:
        yield
    finally:
        if daemonic is not None:
            config["daemon"] = daemonic


class _ProcessExecution:
    def __init__(self, process: BaseProcess) -> None:
        self._process = process

    @property
    def pid(self) -> int:
        return self._process.pid or 0

    def wait(self, timeout: float | None = None) -> bool:
        self._process.join(timeout)
        return not self._process.is_alive()

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if the child is still alive after a grace period."""
        stop(self._process)

    def how_it_ended(self) -> str | None:
        code = self._process.exitcode
        if code == 0:
            return None
        if code is not None and code < 0:
            return f"was killed by signal {signal.Signals(-code).name}"
        return f"exited with code {code}"


def stop(process: BaseProcess) -> None:
    """Stop a child process: SIGTERM, then SIGKILL if it is still alive after a grace period."""
    if process.is_alive():
        process.terminate()
        process.join(_STOP_GRACE_SECONDS)
    if process.is_alive():
        process.kill()
    process.join()


def _fork_is_safe() -> bool:
    return sys.platform != "darwin" and "fork" in multiprocessing.get_all_start_methods()


def _child(work: Work, parent_pid: int, collecting: bool) -> None:
    # What the fork copied is never collected here (see _collector_paused).
    gc.freeze()
    if collecting:
        gc.enable()
    # The parent's signal handlers (Dagster's, which turn SIGTERM and SIGINT into
    # exceptions raised somewhere inside SQLMesh) are inherited by a fork: restore
    # the defaults, so that stopping the child ends it at once.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    _die_with_parent(parent_pid)
    _sqlmesh_in_this_process()
    work()


def _sqlmesh_in_this_process() -> None:
    """Have SQLMesh load and plan in this child alone, without forking its pool of workers.

    SQLMesh forks a pool of workers (one per CPU unless ``MAX_FORK_WORKERS``
    says otherwise) while loading the project and again while planning. Each
    worker would be a fork of this child, which holds Dagster and the
    definitions besides SQLMesh, and would send its results back pickled.
    Measured at 200 models on 2 CPUs: two workers added 450 MB to
    the run's summed RSS (140 MB of PSS), and loading the project in this
    process took 0.84 to 1.0 s with them, 0.49 to 0.74 s without (3.5 to 4.0
    s against 2.9 to 3.2 s at 1,000 models). SQLMesh reads the setting each
    time it starts a pool; this process ends when its work does, so nothing
    else sees it. A team that sets ``MAX_FORK_WORKERS`` keeps its own value.
    """
    if "MAX_FORK_WORKERS" not in os.environ:
        sqlmesh_constants.MAX_FORK_WORKERS = 1


def _die_with_parent(parent_pid: int) -> None:
    """Ask Linux to kill this process when the process that started it dies."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        os._exit(1)


class _ThreadExecution:
    """The same contract in a thread, where forking is not safe; a thread cannot be stopped."""

    def __init__(self, work: Work) -> None:
        self._failed = False

        def target() -> None:
            try:
                work()
            except BaseException:
                self._failed = True
                raise

        self._thread = threading.Thread(target=target, name="sqlmesh-execution", daemon=True)
        self._thread.start()

    @property
    def pid(self) -> int:
        return os.getpid()

    def wait(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def stop(self) -> None:
        pass

    def how_it_ended(self) -> str | None:
        return "raised an error" if self._failed else None
