"""The locks themselves: a file lock beside each DuckDB file, advisory locks in PostgreSQL.

:mod:`.coordination` decides which locks an execution takes, in which order,
and how long it waits; this module only knows how to take, test and release
one lock, and who holds it. Kept apart so the policy reads without the
mechanics of ``flock`` and of PostgreSQL sessions.
"""

import contextlib
import hashlib
import json
import os
import re
import socket
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from sqlmesh.core.config import ConnectionConfig

KEEPALIVE = {"keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2, "keepalives_count": 3}
"""Client-side TCP keepalives of the lock session: a dead server is noticed within about 11 s."""

SERVER_KEEPALIVE = ("tcp_keepalives_idle = 5", "tcp_keepalives_interval = 5", "tcp_keepalives_count = 3")
"""Server-side keepalives of the lock session: PostgreSQL ends it, releasing its locks, about 20 s
after the holder's host stops answering (not only when the holder's process closes its socket)."""

_APPLICATION_NAME = re.compile(r"^sqlmesh-lock r=(?P<run>\S*) p=(?P<pid>\d+)$")


@dataclass(frozen=True)
class Holder:
    """Who holds a lock: told to whoever waits for it."""

    run_id: str | None
    pid: int
    host: str

    @classmethod
    def this_process(cls, run_id: str | None) -> "Holder":
        return cls(run_id=run_id, pid=os.getpid(), host=socket.gethostname())

    def describe(self) -> str:
        who = f"Dagster run {self.run_id}" if self.run_id else "a process"
        return f"{who} (pid {self.pid} on {self.host})"

    def application_name(self) -> str:
        """The holder as PostgreSQL's ``application_name`` of its lock session (63 bytes at most)."""
        return f"sqlmesh-lock r={self.run_id or ''} p={self.pid}"

    @classmethod
    def from_application_name(cls, name: str, host: str) -> "Holder | None":
        match = _APPLICATION_NAME.match(name or "")
        if match is None:
            return None
        return cls(run_id=match["run"] or None, pid=int(match["pid"]), host=host)


class Lock(Protocol):
    """One lock, whatever holds it: tried without waiting (the caller waits), released once."""

    def try_acquire(self) -> bool: ...

    def holder(self) -> Holder | None: ...

    def release(self) -> None: ...


def duckdb_files(connection: ConnectionConfig) -> list[Path]:
    """The local DuckDB files a connection opens: its database and attached catalogs (no MotherDuck,
    no in-memory database, nothing behind a URL)."""
    if connection.type_ != "duckdb":
        return []
    paths: list[str] = []
    database = getattr(connection, "database", None)
    if database:
        paths.append(database)
    for catalog in (getattr(connection, "catalogs", None) or {}).values():
        path = catalog if isinstance(catalog, str) else getattr(catalog, "path", None)
        kind = "duckdb" if isinstance(catalog, str) else getattr(catalog, "type", "duckdb")
        if path and kind == "duckdb":
            paths.append(path)
    return [
        Path(path).resolve()
        for path in paths
        if path != ":memory:" and not path.startswith(("md:", "motherduck:")) and "://" not in path
    ]


def lock_file_of(database: Path) -> Path:
    """The lock file of a DuckDB file, beside it (``warehouse.duckdb.lock``)."""
    return database.with_name(database.name + ".lock")


class FileLock:
    """An exclusive lock on a file, released by the kernel when the holding process ends.

    ``flock`` where the platform has it; the holder is written into the
    file for those who wait. Elsewhere (Windows), the ``filelock`` package's
    lock, without the holder.
    """

    def __init__(self, path: Path, holder: Holder) -> None:
        self.path = path
        self._holder = holder
        self._fd: int | None = None
        self._fallback: Any = None

    def try_acquire(self) -> bool:
        try:
            import fcntl
        except ImportError:
            return self._try_fallback()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(asdict(self._holder)).encode(), 0)
        self._fd = fd
        return True

    def holder(self) -> Holder | None:
        try:
            return Holder(**json.loads(self.path.read_text()))
        except (OSError, ValueError, TypeError):
            return None  # being written, or not written yet

    def release(self) -> None:
        if self._fd is not None:
            import fcntl

            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
        if self._fallback is not None:
            self._fallback.release()
            self._fallback = None

    def _try_fallback(self) -> bool:
        import filelock

        lock = filelock.FileLock(str(self.path))
        try:
            lock.acquire(timeout=0)
        except filelock.Timeout:
            return False
        self._fallback = lock
        return True


class AdvisoryLocks:
    """PostgreSQL session-level advisory locks on the SQLMesh state's database, one session for all.

    The session is opened at the first lock, with the state connection's
    settings, and closed by :meth:`close` (or by the process ending), which
    releases every lock it holds. Lock keys are 64-bit hashes of the state
    schema and the lock's name, so two SQLMesh states in one database do not
    share locks.
    """

    def __init__(self, connection: ConnectionConfig, namespace: str, holder: Holder) -> None:
        self._config = connection
        self._namespace = namespace
        self._holder = holder
        self._session: Any = None
        self._closed = False

    def lock(self, name: str) -> "AdvisoryLock":
        return AdvisoryLock(self, advisory_key(self._namespace, name))

    def execute(self, sql: str, parameters: tuple = ()) -> list[tuple]:
        if self._closed:
            # A new session would hold none of the locks the closed one held.
            raise RuntimeError("the SQLMesh lock session is closed: its locks are released")
        if self._session is None:
            self._session = self._connect()
        with self._session.cursor() as cursor:
            cursor.execute(sql, parameters)
            return cursor.fetchall() if cursor.description else []

    def try_all(self, keys: list[int]) -> list[bool]:
        """Try each lock, in order, in one query; whether each was taken."""
        if not keys:
            return []
        rows = self.execute("SELECT pg_try_advisory_lock(key) FROM unnest(%s::bigint[]) AS key", (keys,))
        return [bool(taken) for (taken,) in rows]

    def release_all(self, keys: list[int]) -> None:
        if keys:
            self.execute("SELECT pg_advisory_unlock(key) FROM unnest(%s::bigint[]) AS key", (keys,))

    def close(self) -> None:
        self._closed = True
        if self._session is not None:
            with contextlib.suppress(Exception):
                self._session.close()
            self._session = None

    def _connect(self) -> Any:
        return connect_to_state(self._config, self._holder.application_name())


@dataclass
class AdvisoryLock:
    """One advisory lock of an :class:`AdvisoryLocks` session."""

    session: AdvisoryLocks
    key: int

    def try_acquire(self) -> bool:
        ((acquired,),) = self.session.execute("SELECT pg_try_advisory_lock(%s)", (self.key,))
        return bool(acquired)

    def holder(self) -> Holder | None:
        high, low = (self.key >> 32) & 0xFFFFFFFF, self.key & 0xFFFFFFFF
        rows = self.session.execute(
            "SELECT a.application_name, COALESCE(a.client_hostname, host(a.client_addr), 'local socket') "
            "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %s AND l.objid = %s "
            "AND l.objsubid = 1 "
            "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            (high, low),
        )
        for name, host in rows:
            holder = Holder.from_application_name(name, host)
            if holder is not None:
                return holder
        return None

    def release(self) -> None:
        self.session.execute("SELECT pg_advisory_unlock(%s)", (self.key,))


def connect_to_state(config: ConnectionConfig, application_name: str) -> Any:
    """A session of its own on the PostgreSQL database of SQLMesh's state, in autocommit mode.

    With client- and server-side keepalives, so that what the session holds (its
    advisory locks) is released soon after its host stops answering, not hours later.
    """
    import psycopg2

    settings = {
        key: getattr(config, key)
        for key in ("host", "port", "user", "password", "database", "connect_timeout", "sslmode")
        if getattr(config, key, None) is not None
    }
    session = psycopg2.connect(**settings, **KEEPALIVE, application_name=application_name)
    session.autocommit = True
    with session.cursor() as cursor:
        for setting in SERVER_KEEPALIVE:
            cursor.execute(f"SET {setting}")
    return session


def advisory_key(namespace: str, name: str) -> int:
    """A signed 64-bit key for ``pg_advisory_lock``: the lock's name within its SQLMesh state."""
    digest = hashlib.blake2b(f"sqlmesh-lock/{namespace}/{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)
