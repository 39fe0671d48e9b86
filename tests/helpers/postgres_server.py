"""A throwaway PostgreSQL server on 127.0.0.1, for the tests of the `postgres` warehouse.

Uses the server binaries of Debian's `postgresql` package (which `.ci/run`
installs when missing). PostgreSQL refuses to run as root, so as root the
server runs as the package's `postgres` user. It is stopped when the block ends,
or by a watchdog when the tests are killed (helpers/watchdog.py).
"""

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from helpers.watchdog import stopped_if_the_tests_die


def server_binaries() -> Path | None:
    """The folder with initdb and pg_ctl, or None when PostgreSQL is not installed."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@dataclass
class PostgresServer:
    port: int
    user: str = "postgres"

    binaries: Path = Path("/usr/bin")

    def recreate(self, database: str) -> dict[str, str]:
        """Drop and create ``database``; return the settings a project needs to use it."""
        connection = ["-h", "127.0.0.1", "-p", str(self.port), "-U", self.user]
        subprocess.run([str(self.binaries / "dropdb"), *connection, "--if-exists", database], check=True)
        subprocess.run([str(self.binaries / "createdb"), *connection, database], check=True)
        return self.env(database)

    def env(self, database: str) -> dict[str, str]:
        """The settings a generated project reads (see its .env.example)."""
        return {
            "POSTGRES_HOST": "127.0.0.1",
            "POSTGRES_PORT": str(self.port),
            "POSTGRES_USER": self.user,
            "POSTGRES_PASSWORD": "",
            "POSTGRES_DB": database,
        }

    def dagster_env(self, database: str) -> dict[str, str]:
        """The settings a generated project's ``deploy/dagster.yaml`` reads (Dagster's storage)."""
        return {
            "DAGSTER_PG_HOST": "127.0.0.1",
            "DAGSTER_PG_PORT": str(self.port),
            "DAGSTER_PG_USER": self.user,
            "DAGSTER_PG_PASSWORD": "",
            "DAGSTER_PG_DB": database,
        }


def _as_server_user(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@contextmanager
def postgres_server(port: int, databases: list[str]) -> Iterator[PostgresServer]:
    """Start a server with a fresh data folder; stop it and delete the folder afterwards.

    The folder is a new one under /tmp: the server's user must be able to reach
    it, which neither a test's private tmp_path nor the session's private TMPDIR
    allows.
    """
    binaries = server_binaries()
    assert binaries is not None, "PostgreSQL is not installed"
    root = Path(tempfile.mkdtemp(prefix="postgres-for-tests-", dir="/tmp"))
    data, sockets = root / "data", root / "sockets"
    for folder in (data, sockets):
        folder.mkdir()
    if os.geteuid() == 0:
        for folder in (root, data, sockets):
            shutil.chown(folder, "postgres", "postgres")
    run = lambda command: subprocess.run(
        _as_server_user(command), check=True, capture_output=True, text=True, timeout=120
    )
    run([str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "--no-sync"])
    options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off"
    run(
        [
            str(binaries / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            options,
            "-w",
            "-l",
            str(root / "server.log"),
            "start",
        ]
    )
    stop = [str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]
    createdb = [str(binaries / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres"]
    try:
        with stopped_if_the_tests_die(_as_server_user(stop), ["rm", "-rf", str(root)]):
            for database in databases:
                run([*createdb, database])
            yield PostgresServer(port=port, binaries=binaries)
    finally:
        run(stop)
        shutil.rmtree(root, ignore_errors=True)
