"""The locks SQLMesh executions take on a shared state: waits are told, bounded, and a dead holder releases.

The holder is a real process of this project's Python, holding the real
lock on a DuckDB file's lock file; it is killed with SIGKILL, as a run's
process would be by an out-of-memory kill or a lost host's reboot.
"""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlmesh.core.config import (
    DuckDBConnectionConfig,
    MotherDuckConnectionConfig,
    PostgresConnectionConfig,
)

from {{ cookiecutter.package_name }}.sqlmesh_integration.execution.coordination import Coordination, LockWaitTimeout
from {{ cookiecutter.package_name }}.sqlmesh_integration.execution.locks import (
    Holder,
    advisory_key,
    duckdb_files,
    lock_file_of,
)

HOLD = """
import sys, time
from sqlmesh.core.config import DuckDBConnectionConfig
from {{ cookiecutter.package_name }}.sqlmesh_integration.execution.coordination import Coordination, Holder

connection = DuckDBConnectionConfig(database=sys.argv[1])
coordination = Coordination.for_connections(
    connection, connection, None, Holder.this_process("run-that-holds"), 60, lambda text, about: None
)
with coordination, coordination.warehouse():
    print("held", flush=True)
    time.sleep(600)
"""


def hold(database: Path) -> subprocess.Popen:
    """A process of its own holding ``database``'s lock, once it has said so."""
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(database)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    return holder


def waiter(database: Path, timeout: float, lines: list[str]) -> Coordination:
    connection = DuckDBConnectionConfig(database=str(database))
    return Coordination.for_connections(
        connection,
        connection,
        None,
        Holder.this_process("run-that-waits"),
        timeout,
        lambda text, about: lines.append(text),
    )


def test_a_holder_killed_with_sigkill_releases_the_warehouse_and_the_waiter_names_it(tmp_path):
    database = tmp_path / "warehouse.duckdb"
    holder = hold(database)
    lines: list[str] = []
    killer = threading.Timer(1.0, os.kill, (holder.pid, signal.SIGKILL))
    killer.start()
    try:
        # Waits at most 30 s: a lock the kernel did not release fails with LockWaitTimeout.
        with waiter(database, 30, lines) as coordination, coordination.warehouse() as waited:
            assert holder.poll() == -signal.SIGKILL
            # Held now: the file names this process to the next one that waits.
            assert f'"pid": {os.getpid()}' in lock_file_of(database).read_text()
    finally:
        killer.cancel()
        holder.kill()
        holder.wait()
    assert waited == Holder("run-that-holds", holder.pid, waited.host)
    assert lines[0].startswith(f"SQLMesh: waiting for the DuckDB file {database}, held by Dagster run ")
    assert f"run-that-holds (pid {holder.pid} on " in lines[0]
    assert lines[-1].startswith("SQLMesh: waited ") and "run-that-holds" in lines[-1]
    # Released when the waiter is done: the lock file names nobody.
    assert lock_file_of(database).read_text() == ""


def test_a_wait_longer_than_the_timeout_fails_naming_the_holder_and_the_setting(tmp_path):
    database = tmp_path / "warehouse.duckdb"
    holder = hold(database)
    try:
        started = time.monotonic()
        with pytest.raises(LockWaitTimeout) as failure:
            with waiter(database, 1, []) as coordination, coordination.warehouse():
                pass
        assert time.monotonic() - started < 30
        assert holder.poll() is None  # the holder is untouched
    finally:
        holder.kill()
        holder.wait()
    message = str(failure.value)
    assert f"Waited 1 s for the DuckDB file {database}, still held by Dagster run run-that-holds" in message
    assert f"(pid {holder.pid} on " in message and "lock_timeout_seconds" in message


def test_a_free_lock_is_taken_at_once_and_released_at_the_end(tmp_path):
    database = tmp_path / "warehouse.duckdb"
    lines: list[str] = []
    with waiter(database, 1, lines) as coordination:
        with coordination.warehouse() as waited:
            assert waited is None
        with coordination.warehouse() as waited:  # released: taken again at once
            assert waited is None
    assert lines == []


def test_duckdb_files_are_the_local_files_a_connection_opens(tmp_path):
    local = DuckDBConnectionConfig(
        catalogs={"main": str(tmp_path / "a.duckdb"), "cloud": "md:shared", "memory": ":memory:"}
    )
    assert duckdb_files(local) == [tmp_path / "a.duckdb"]
    assert duckdb_files(DuckDBConnectionConfig()) == []
    assert duckdb_files(DuckDBConnectionConfig(database=":memory:")) == []


def test_postgresql_state_takes_advisory_locks_and_other_engines_say_they_take_none():
    # Built without validation: a DuckDB project need not have PostgreSQL's driver installed.
    postgres = PostgresConnectionConfig.model_construct(
        host="127.0.0.1", user="u", password="", port=5432, database="w"
    )
    duckdb = DuckDBConnectionConfig(database=":memory:")
    holder = Holder.this_process(None)
    on_postgres = Coordination.for_connections(duckdb, postgres, "sqlmesh", holder, 1, lambda *_: None)
    assert on_postgres.advisory is not None and on_postgres.uncoordinated is None
    on_duckdb = Coordination.for_connections(duckdb, duckdb, None, holder, 1, lambda *_: None)
    assert on_duckdb.advisory is None and on_duckdb.uncoordinated is None
    cloud = MotherDuckConnectionConfig(database="shared")
    lines: list[str] = []
    on_cloud = Coordination.for_connections(cloud, cloud, None, holder, 1, lambda text, _: lines.append(text))
    with on_cloud, on_cloud.warehouse():
        pass
    assert lines == [
        "SQLMesh: SQLMesh's state is kept on motherduck, where this integration takes no locks: runs "
        "that share it are not coordinated (keep state on PostgreSQL to run them side by side safely)."
    ]


def test_advisory_keys_differ_by_state_schema_and_lock():
    keys = {advisory_key(schema, name) for schema in ("sqlmesh", "other") for name in ("plan", "model:a")}
    assert len(keys) == 4
    assert all(-(2**63) <= key < 2**63 for key in keys)
    assert advisory_key("sqlmesh", "plan") == advisory_key("sqlmesh", "plan")


def test_a_holder_round_trips_through_postgresql_application_name():
    holder = Holder(run_id="0" * 36, pid=4194304, host="10.0.0.7")
    name = holder.application_name()
    assert len(name.encode()) <= 63  # PostgreSQL truncates longer names
    assert Holder.from_application_name(name, "10.0.0.7") == holder
    assert Holder.from_application_name("psql", "10.0.0.7") is None
