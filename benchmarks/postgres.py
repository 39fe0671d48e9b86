"""A throwaway PostgreSQL server for the concurrency case, on 127.0.0.1, a child of the benchmark.

Not the template tests' helper (``tests/helpers/postgres_server.py``), which
starts the server with ``pg_ctl``: ``pg_ctl`` detaches the server, and the
benchmark makes itself a child subreaper (see ``run.become_subreaper``), so
the detached server would be adopted by it and taken for a leftover of a
measured run. Here ``postgres`` itself is the child: started with
:class:`subprocess.Popen` in a session of its own and stopped by its process
id (SIGINT, PostgreSQL's fast shutdown, which ends its backends); should it
not stop, it and each of its processes get SIGKILL, by id. It listens on 127.0.0.1 only (no Unix socket
outside its own folder), trusts local connections, and skips fsync: the
benchmark measures coordination, not durability.

PostgreSQL refuses to run as root: as root, ``initdb`` and ``postgres`` run as
the ``postgres`` user of Debian's package, and the data folder is made under
/tmp, which that user can reach (a private workdir or TMPDIR may not be).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from processes import process_tree

SERVER_USER = "postgres"
START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 60
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def server_binaries() -> Path | None:
    """The folder with ``initdb`` and ``postgres`` (the newest Debian version, else PATH), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def free_port() -> int:
    """A TCP port nothing listens on at 127.0.0.1 right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _server_user() -> dict[str, str]:
    """Popen's ``user``, ``group`` and ``extra_groups``: the server's account as root, else nothing."""
    if os.geteuid() != 0:
        return {}
    return {"user": SERVER_USER, "group": SERVER_USER, "extra_groups": []}  # root's groups dropped


@dataclass
class PostgresServer:
    """A running server: its process, port and client binaries."""

    process: subprocess.Popen
    port: int
    binaries: Path
    user: str = SERVER_USER

    def create_database(self, name: str) -> None:
        subprocess.run(
            [str(self.binaries / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, name],
            check=True,
            capture_output=True,
            text=True,
        )

    def env(self, database: str) -> dict[str, str]:
        """The settings the generated project's ``config.py`` reads (its .env.example names them)."""
        return {
            "POSTGRES_HOST": "127.0.0.1",
            "POSTGRES_PORT": str(self.port),
            "POSTGRES_USER": self.user,
            "POSTGRES_PASSWORD": "",
            "POSTGRES_DB": database,
        }

    def dagster_env(self, database: str) -> dict[str, str]:
        """The settings the generated project's ``deploy/dagster.yaml`` reads."""
        return {
            "DAGSTER_PG_HOST": "127.0.0.1",
            "DAGSTER_PG_PORT": str(self.port),
            "DAGSTER_PG_USER": self.user,
            "DAGSTER_PG_PASSWORD": "",
            "DAGSTER_PG_DB": database,
        }

    def cpu_s(self) -> float:
        """CPU seconds of the server so far: its live processes, and the backends it has reaped.

        The server is not part of any run's process tree, so the benchmark
        counts its CPU apart and does not take it for another program's.
        """
        ticks = 0
        for pid in process_tree(self.process.pid):
            try:
                with open(f"/proc/{pid}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
            if pid == self.process.pid:
                ticks += int(fields[13]) + int(fields[14])  # cutime, cstime: backends that ended
        return ticks / CLOCK_TICKS

    def version(self) -> str:
        """The server's version line (``postgres --version``)."""
        result = subprocess.run(
            [str(self.binaries / "postgres"), "--version"], check=True, capture_output=True, text=True
        )
        return result.stdout.strip()

    def ready(self) -> bool:
        result = subprocess.run(
            [str(self.binaries / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-q"], check=False
        )
        return result.returncode == 0


@contextlib.contextmanager
def postgres_server(log: Path, databases: list[str]) -> Iterator[PostgresServer]:
    """Start a server on a free port of 127.0.0.1 with ``databases``; stop it and delete its data after.

    ``log`` receives the server's own log. The data folder is new and goes
    away with the server: every invocation starts from an empty cluster.
    """
    binaries = server_binaries()
    if binaries is None:
        raise RuntimeError("PostgreSQL's server binaries are not installed (initdb, postgres)")
    root = Path(tempfile.mkdtemp(prefix="bench-postgres-", dir="/tmp"))
    data, sockets = root / "data", root / "sockets"
    for folder in (data, sockets):
        folder.mkdir()
    if os.geteuid() == 0:
        for folder in (root, data, sockets):
            shutil.chown(folder, SERVER_USER, SERVER_USER)
    log.parent.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run(
            [str(binaries / "initdb"), "-D", str(data), "-U", SERVER_USER, "-A", "trust", "--no-sync"],
            check=True,
            capture_output=True,
            text=True,
            **_server_user(),
        )
        port = free_port()
        with open(log, "w") as log_file:
            process = subprocess.Popen(
                [
                    str(binaries / "postgres"),
                    "-D",
                    str(data),
                    "-p",
                    str(port),
                    "-k",
                    str(sockets),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    "fsync=off",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                **_server_user(),
            )
        server = PostgresServer(process=process, port=port, binaries=binaries)
        try:
            deadline = time.monotonic() + START_TIMEOUT_S
            while not server.ready():
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"PostgreSQL did not start; its log: {log}")
                time.sleep(0.2)
            for database in databases:
                server.create_database(database)
            yield server
        finally:
            _stop(process)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _stop(process: subprocess.Popen) -> None:
    """Fast shutdown by the server's id (it ends its backends itself); after the timeout, SIGKILL to
    the server and each of its processes, by id."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        for pid in process_tree(process.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        process.wait()
