"""A run's records in the PostgreSQL database of SQLMesh's state, for steps on other hosts.

Under an executor that runs each step in a container or worker of its own,
the steps of a run share no folder, only Dagster's instance storage and the
databases. Every step reaches SQLMesh's state, so the claims and the streams
live there, in two tables of this integration's own beside SQLMesh's (in the
state schema, ``sqlmesh`` unless the gateway names another):

    dagster_run_executions   one row per execution: run, project, number, the models
                             it covers, and the process and host that own it
    dagster_run_events       the executions' streams, one row per event, in order

Created on first use; the rows of finished runs are deleted as their
folders are in the file store (``keep_finished_runs``).

- **Claims** are taken in a transaction holding an advisory lock on the run
  and project (``pg_advisory_xact_lock``), so two steps on two hosts never
  claim one model, nor start two executions for one.
- **Liveness.** The claiming step takes a session-level advisory lock on its
  execution in the same transaction, and keeps it until the execution's
  stream has ended. A step that waits tests that lock: if it can take it, the
  owner's session is gone (its process was killed, or its host stopped
  answering: the session's TCP keepalives end it within about 20 s), and no
  process ID on another host is ever looked at.
- **Streams** are appended by the process executing SQLMesh, one event at a
  time in autocommit, so their ids are committed in order; a waiting step
  reads the rows after the last id it read.

Each process keeps one session per state database (:func:`postgres_store`);
the forked process that executes SQLMesh opens its own at its first event,
never touching its parent's.
"""

import json
import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dagster import DagsterInstance
from sqlmesh.core.config import ConnectionConfig

from ..execution.execution_stream import StreamReader, StreamWriter
from ..execution.locks import advisory_key, connect_to_state
from .store import BeforeClaiming, Claim, Ready, covering

_stores: dict[tuple[int, str], "PostgresRunStore"] = {}
_REMEMBERED_STREAMS = 64
_inherited: list[Any] = []


def postgres_store(state_connection: ConnectionConfig, schema: str) -> "PostgresRunStore":
    """This process's store on a state database (one session per process and database)."""
    settings = json.dumps(
        [getattr(state_connection, key, None) for key in ("host", "port", "database", "user")] + [schema]
    )
    key = (os.getpid(), settings)
    store = _stores.get(key)
    if store is None:
        store = _stores[key] = PostgresRunStore(state_connection, schema)
    return store


class _Session:
    """One autocommit session on the state database, opened at first use by the process using it."""

    def __init__(self, connection: ConnectionConfig, name: str) -> None:
        self._config = connection
        self._name = name
        self._session: Any = None
        self._pid = 0
        self.lock = threading.RLock()

    def execute(self, sql: Any, parameters: tuple = ()) -> list[tuple]:
        with self.lock:
            if self._session is None or self._pid != os.getpid():
                # A session opened before a fork belongs to the parent: kept referenced, never
                # closed here (closing it would end the parent's session, and its locks).
                if self._session is not None:
                    _inherited.append(self._session)
                self._session = connect_to_state(self._config, self._name)
                self._pid = os.getpid()
            with self._session.cursor() as cursor:
                cursor.execute(sql, parameters)
                return cursor.fetchall() if cursor.description else []


class PostgresRunStore:
    """The run's claims and streams in SQLMesh's PostgreSQL state (module docstring)."""

    poll_seconds = 0.2
    steps_queue = True

    def __init__(self, state_connection: ConnectionConfig, schema: str) -> None:
        self._schema = schema
        self._session = _Session(state_connection, f"sqlmesh-runs p={os.getpid()}")
        self._connection = state_connection
        self._held: set[int] = set()
        self._tables_ready = False
        self._readers: dict[Path, _TableReader] = {}
        self._executions = f"{_quoted(schema)}.dagster_run_executions"
        self._events = f"{_quoted(schema)}.dagster_run_events"

    def run_dir(self, instance: DagsterInstance, run_id: str, project: str) -> Path:
        return Path(run_id) / project

    def claim(self, run_dir: Path, fqn: str, ready: Ready, before_claiming: BeforeClaiming) -> Claim:
        """As :meth:`.FileRunStore.claim`, under a transaction-level lock on the run and project."""
        self._create_tables()
        found, claimed = covering(self, run_dir, fqn)
        if found is not None:
            return found
        before_claiming(claimed)
        run_id, project = _names(run_dir)
        with self._session.lock:
            self._session.execute("BEGIN")
            try:
                self._session.execute(
                    "SELECT pg_advisory_xact_lock(%s)", (self._key(f"claims/{run_id}/{project}"),)
                )
                found, claimed = covering(self, run_dir, fqn)
                if found is not None:
                    self._session.execute("COMMIT")
                    return found
                covers = sorted(ready(claimed) | {fqn})
                number = len(self.started(run_dir)) + 1
                self._session.execute(
                    f"INSERT INTO {self._executions} "
                    "(run_id, project, number, covers, owner_pid, owner_host) "
                    "VALUES (%s, %s, %s, %s, %s, %s)",
                    (run_id, project, number, json.dumps(covers), os.getpid(), socket.gethostname()),
                )
                owner = self._owner_key(run_id, project, number)
                self._session.execute("SELECT pg_advisory_lock(%s)", (owner,))
                self._session.execute("COMMIT")
            except BaseException:
                self._session.execute("ROLLBACK")
                raise
            self._held.add(owner)
        return Claim(
            run_dir, number, covers, os.getpid(), to_start=True, store=self, owner_host=socket.gethostname()
        )

    def started(self, run_dir: Path) -> list[Claim]:
        self._create_tables()
        run_id, project = _names(run_dir)
        rows = self._session.execute(
            f"SELECT number, covers, owner_pid, owner_host FROM {self._executions} "
            "WHERE run_id = %s AND project = %s ORDER BY number",
            (run_id, project),
        )
        return [
            Claim(run_dir, number, json.loads(covers), owner, to_start=False, store=self, owner_host=host)
            for number, covers, owner, host in rows
        ]

    def writer(self, claim: Claim) -> StreamWriter:
        run_id, project = _names(claim.run_dir)
        insert = f"INSERT INTO {self._events} (run_id, project, number, event) VALUES (%s, %s, %s, %s)"
        return _TableWriter(self._session, self._connection, insert, (run_id, project, claim.number))

    def reader(self, claim: Claim) -> StreamReader:
        """This process's reader of the stream: the steps it runs read each event once between them."""
        reader = self._readers.get(claim.events)
        if reader is None:
            run_id, project = _names(claim.run_dir)
            select = (
                f"SELECT id, event FROM {self._events} "
                "WHERE run_id = %s AND project = %s AND number = %s AND id > %s ORDER BY id"
            )
            reader = self._readers[claim.events] = _TableReader(
                self._session, select, (run_id, project, claim.number)
            )
            while len(self._readers) > _REMEMBERED_STREAMS:
                del self._readers[next(iter(self._readers))]
        return reader

    def owner_alive(self, claim: Claim) -> bool:
        """Whether the owner's session still holds its lock on the execution (module docstring)."""
        run_id, project = _names(claim.run_dir)
        key = self._owner_key(run_id, project, claim.number)
        if key in self._held:
            return True
        with self._session.lock:
            ((taken,),) = self._session.execute("SELECT pg_try_advisory_lock(%s)", (key,))
            if taken:
                self._session.execute("SELECT pg_advisory_unlock(%s)", (key,))
        return not taken

    def release(self, claim: Claim) -> None:
        run_id, project = _names(claim.run_dir)
        key = self._owner_key(run_id, project, claim.number)
        if key in self._held:
            self._session.execute("SELECT pg_advisory_unlock(%s)", (key,))
            self._held.discard(key)

    def prune(
        self, instance: DagsterInstance, keep: str, keep_finished: int, is_finished: Callable[[str], bool]
    ) -> Exception | None:
        """Delete the rows of finished runs beyond the newest ``keep_finished``; return what went wrong."""
        try:
            rows = self._session.execute(
                f"SELECT run_id FROM {self._executions} GROUP BY run_id ORDER BY max(started_at) DESC"
            )
            finished = [run_id for (run_id,) in rows if run_id != keep and is_finished(run_id)]
            doomed = finished[keep_finished:]
            if doomed:
                for table in (self._events, self._executions):
                    self._session.execute(f"DELETE FROM {table} WHERE run_id = ANY(%s)", (doomed,))
        except Exception as error:
            return error
        return None

    def _create_tables(self) -> None:
        if self._tables_ready:
            return
        statements = [
            f"CREATE SCHEMA IF NOT EXISTS {_quoted(self._schema)}",
            f"CREATE TABLE IF NOT EXISTS {self._executions} (run_id TEXT NOT NULL, project TEXT NOT NULL, "
            "number INTEGER NOT NULL, covers TEXT NOT NULL, owner_pid INTEGER NOT NULL, "
            "owner_host TEXT NOT NULL, started_at TIMESTAMPTZ NOT NULL DEFAULT now(), "
            "PRIMARY KEY (run_id, project, number))",
            f"CREATE TABLE IF NOT EXISTS {self._events} (id BIGSERIAL PRIMARY KEY, run_id TEXT NOT NULL, "
            "project TEXT NOT NULL, number INTEGER NOT NULL, event TEXT NOT NULL)",
            f"CREATE INDEX IF NOT EXISTS dagster_run_events_stream ON {self._events} "
            "(run_id, project, number, id)",
        ]
        with self._session.lock:
            self._session.execute("BEGIN")
            try:
                # Two first steps at once would race to create the same tables.
                self._session.execute("SELECT pg_advisory_xact_lock(%s)", (self._key("tables"),))
                for statement in statements:
                    self._session.execute(statement)
                self._session.execute("COMMIT")
            except BaseException:
                self._session.execute("ROLLBACK")
                raise
        self._tables_ready = True

    def _key(self, name: str) -> int:
        return advisory_key(self._schema, f"dagster-runs/{name}")

    def _owner_key(self, run_id: str, project: str, number: int) -> int:
        return self._key(f"owner/{run_id}/{project}/{number}")


class _TableWriter(StreamWriter):
    """Appends a stream's events as rows.

    In the process that made it, on the store's session; in the forked process
    executing SQLMesh, on a session that process opens at its first event (the
    parent's session, and its lock, may be in use by another of its threads).
    """

    def __init__(
        self, session: _Session, connection: ConnectionConfig, insert: Any, stream: tuple[str, str, int]
    ) -> None:
        super().__init__(Path(*map(str, stream)))
        self._parent = session
        self._parent_pid = os.getpid()
        self._connection = connection
        self._own: _Session | None = None
        self._insert = insert
        self._stream = stream

    def _write(self, line: bytes) -> None:
        session = self._parent
        if os.getpid() != self._parent_pid:
            if self._own is None:
                self._own = _Session(self._connection, f"sqlmesh-stream p={os.getpid()}")
            session = self._own
        session.execute(self._insert, (*self._stream, line.decode().rstrip("\n")))


class _TableReader(StreamReader):
    """Reads a stream's rows after the last one read."""

    def __init__(self, session: _Session, select: Any, stream: tuple[str, str, int]) -> None:
        super().__init__(Path(*map(str, stream)))
        self._session_ = session
        self._select = select
        self._stream = stream
        self._last_id = 0

    def _appended(self) -> list[bytes]:
        rows = self._session_.execute(self._select, (*self._stream, self._last_id))
        if rows:
            self._last_id = rows[-1][0]
        return [event.encode() for _, event in rows]


def _quoted(identifier: str) -> str:
    """An identifier as PostgreSQL reads it verbatim (the state schema comes from the project's config)."""
    return '"' + identifier.replace('"', '""') + '"'


def _names(run_dir: Path) -> tuple[str, str]:
    """The run id and project a store key names (``<run_id>/<project>``)."""
    return run_dir.parent.name, run_dir.name
