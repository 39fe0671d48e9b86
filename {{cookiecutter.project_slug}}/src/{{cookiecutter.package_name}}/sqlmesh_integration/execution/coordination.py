"""Locks that let SQLMesh executions share one SQLMesh state: across runs, processes and hosts.

SQLMesh's open-source side takes no lock of its own. Two plans applied at
once to one environment fail with ``ConflictingPlanError``; two runs that
find the same interval missing both evaluate it (and an incremental model
gets its rows twice). Dagster's run queue cannot prevent either: a run from
the CLI never goes through it, and a queue of one run makes every run of the
deployment wait for every other. So every execution of this integration
takes these locks, always in this order, and holds each for as short a time
as it can:

1. **The warehouse file** (DuckDB only), for the whole execution: DuckDB
   lets one process open a file at a time, and fails every other at once.
   An execution waits for the file instead of failing; a process outside
   Dagster that holds it (a notebook, the duckdb shell) still gets DuckDB's
   own error. The plan and model locks below add nothing to it.
2. **Its models** (PostgreSQL state), from before its plan until it is done
   evaluating: a run that wants a model another run is evaluating waits for
   that model's lock, then evaluates what is still missing (usually nothing:
   it is reported up to date, naming the run it waited for). Runs of
   disjoint models never wait for each other.
3. **The plan** (PostgreSQL state), while a plan is built and applied: one
   plan at a time per SQLMesh state, each built against the result of the
   one before.

A fourth lock is held for a moment at the start of every execution, while
it opens SQLMesh's state (:meth:`Coordination.open_state`): the first
execution on an empty state creates its tables, and a second one must not
do the same at the same time.

Where they live, and what releases them:

- DuckDB: an exclusive ``flock`` on ``<file>.lock`` beside each DuckDB file
  the gateway opens (the warehouse, a state file, attached catalogs). The
  holder's run is written into the lock file for those who wait. The
  kernel releases the lock when the holding process ends, SIGKILL included.
- PostgreSQL state: session-level advisory locks, taken on a connection of
  their own to the state database, whose ``application_name`` names the
  holder's run. PostgreSQL releases them when that session ends: at once
  when the process dies (its socket closes), and within about 20 seconds
  when its host is gone (the session's TCP keepalives, set here).
- Any other state engine: no lock is taken, and the execution says so.

Every wait is bounded (``lock_timeout_seconds``) and said as it starts,
naming the holder, and when it ends, with how long it took.
"""

import contextlib
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

from sqlmesh import Context
from sqlmesh.core.config import ConnectionConfig

from .locks import AdvisoryLock, AdvisoryLocks, FileLock, Holder, Lock, duckdb_files, lock_file_of

POLL_SECONDS = 0.25
"""How often a waiting execution tries a lock again."""

Say = Callable[[str, Collection[str]], None]
"""Where waits are told: a line, and the models it concerns (none: the execution as a whole)."""


class LockWaitTimeout(Exception):
    """A lock was held by another execution for longer than the execution may wait."""


@dataclass
class Coordination:
    """The locks of one execution (see the module): acquired in order, released when it ends.

    Use it as a context manager: leaving it releases whatever is still held
    and closes the lock session.
    """

    holder: Holder
    timeout_seconds: float
    say: Say
    warehouse_files: list[Path] = field(default_factory=list)
    """Local DuckDB files the gateway opens, each locked for a whole execution."""
    advisory: "AdvisoryLocks | None" = None
    """The PostgreSQL state's lock session, for plans and models."""
    uncoordinated: str | None = None
    """Why runs sharing this state are not coordinated (a state engine without locks here)."""

    @classmethod
    def for_connections(
        cls,
        connection: ConnectionConfig,
        state_connection: ConnectionConfig,
        state_schema: str | None,
        holder: Holder,
        timeout_seconds: float,
        say: Say,
    ) -> "Coordination":
        """The locks for a gateway: its warehouse connection and the connection to its state."""
        files = sorted({*duckdb_files(connection), *duckdb_files(state_connection)})
        advisory = None
        uncoordinated = None
        if state_connection.type_ == "postgres":
            advisory = AdvisoryLocks(state_connection, state_schema or "sqlmesh", holder)
        elif state_connection.type_ != "duckdb":
            uncoordinated = (
                f"SQLMesh's state is kept on {state_connection.type_}, where this integration takes no "
                "locks: runs that share it are not coordinated (keep state on PostgreSQL to run them "
                "side by side safely)."
            )
        return cls(holder, timeout_seconds, say, files, advisory, uncoordinated)

    @classmethod
    def for_context(
        cls, context: Context, holder: Holder, timeout_seconds: float, say: Say
    ) -> "Coordination":
        """The locks for a loaded project's gateway, as SQLMesh connects to it."""
        config = context.config
        return cls.for_connections(
            context.connection_config,
            config.get_state_connection(context.gateway) or context.connection_config,
            config.get_state_schema(context.gateway),
            holder,
            timeout_seconds,
            say,
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.advisory is not None:
            self.advisory.close()

    @contextlib.contextmanager
    def warehouse(self, about: Collection[str] = ()) -> Iterator[Holder | None]:
        """Hold every local DuckDB file of the gateway; yield the holder waited for, if any."""
        if self.uncoordinated:
            self.say(f"SQLMesh: {self.uncoordinated}", ())
        with contextlib.ExitStack() as stack:
            waited = None
            for path in self.warehouse_files:
                lock = FileLock(lock_file_of(path), self.holder)
                waited = self._acquire(lock, f"the DuckDB file {path}", about) or waited
                stack.callback(lock.release)
            yield waited

    def open_state(self, context: Context, about: Collection[str] = ()) -> None:
        """Open the context's SQLMesh state, one process at a time while it may create its tables.

        SQLMesh creates (migrates) the state's tables the first time a
        context reads a state that has none; two processes doing so at once
        on PostgreSQL fail one of them ("current transaction is aborted").
        """
        with self.state_tables(about):
            _ = context.state_sync  # reading it opens the state, and creates it if need be

    def state_tables(self, about: Collection[str] = ()) -> contextlib.AbstractContextManager[None]:
        """Hold the state's lock on creating its tables (see :meth:`open_state`)."""
        return self._advisory("state", "SQLMesh's state tables", about)

    def plan(self, about: Collection[str] = ()) -> contextlib.AbstractContextManager[None]:
        """Hold the state's plan lock: one plan is built and applied at a time."""
        return self._advisory("plan", "SQLMesh's plan lock", about)

    @contextlib.contextmanager
    def _advisory(self, name: str, what: str, about: Collection[str]) -> Iterator[None]:
        """Hold the state's lock ``name`` (nothing to hold without a PostgreSQL state)."""
        if self.advisory is None:
            yield
            return
        lock = self.advisory.lock(name)
        self._acquire(lock, what, about)
        try:
            yield
        finally:
            lock.release()

    @contextlib.contextmanager
    def models(self, fqns: Collection[str]) -> Iterator[dict[str, Holder]]:
        """Hold each model's lock; yield, for each model that had to wait, the holder it waited for.

        Taken in name order, so that two executions never each hold a lock
        the other waits for: a batch of tries keeps the locks before the first
        one taken elsewhere and gives back those after it, waits for that one,
        then tries the rest (a run of 1,000 free models costs two queries, not
        2,000). A wait is told about every one of ``fqns``: none is evaluated
        before all are held.
        """
        if self.advisory is None or not fqns:
            yield {}
            return
        advisory = self.advisory
        locks = [(fqn, advisory.lock(f"model:{fqn}")) for fqn in sorted(fqns)]
        held: list[AdvisoryLock] = []
        waited: dict[str, Holder] = {}
        try:
            while locks:
                taken = advisory.try_all([lock.key for _, lock in locks])
                free = next((index for index, ok in enumerate(taken) if not ok), len(locks))
                held += [lock for _, lock in locks[:free]]
                after = zip(locks[free + 1 :], taken[free + 1 :], strict=True)
                advisory.release_all([lock.key for (_, lock), ok in after if ok])
                if free == len(locks):
                    break
                fqn, blocked = locks[free]
                holder = self._acquire(blocked, f"model {fqn}", fqns)
                held.append(blocked)
                if holder is not None:
                    waited[fqn] = holder
                locks = locks[free + 1 :]
            yield waited
        finally:
            advisory.release_all([lock.key for lock in held])

    def _acquire(self, lock: Lock, what: str, about: Collection[str]) -> Holder | None:
        """Take ``lock``, waiting up to the timeout; the holder waited for, None if it was free."""
        if lock.try_acquire():
            return None
        started = time.monotonic()
        waited_for: Holder | None = None
        while True:
            holder = lock.holder()
            if holder is not None and holder != waited_for:
                waited_for = holder
                self.say(
                    f"SQLMesh: waiting for {what}, held by {holder.describe()}; this execution goes on "
                    f"when it is released (at most {self.timeout_seconds:g} s, lock_timeout_seconds)",
                    about,
                )
            if lock.try_acquire():
                self.say(
                    f"SQLMesh: waited {time.monotonic() - started:.1f} s for {what}"
                    + (f", held by {waited_for.describe()}" if waited_for else ""),
                    about,
                )
                return waited_for
            if time.monotonic() - started > self.timeout_seconds:
                raise LockWaitTimeout(
                    f"Waited {self.timeout_seconds:g} s for {what}, still held by "
                    f"{waited_for.describe() if waited_for else 'another execution'}. Let that run "
                    "finish (or terminate it) and materialize again, or raise lock_timeout_seconds "
                    "(the SQLMesh resource's setting, or the component's in defs.yaml)."
                )
            time.sleep(POLL_SECONDS)
