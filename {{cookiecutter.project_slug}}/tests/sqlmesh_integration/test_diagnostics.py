"""Readable messages for what goes wrong most: a locked warehouse, a broken model file."""

import subprocess
import sys

import duckdb
import pytest
from sqlmesh import Context

from {{ cookiecutter.package_name }}.sqlmesh_integration.vocabulary.diagnostics import WarehouseLockedError, load_error

HOLD = "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('ready', flush=True); time.sleep(60)"


def test_a_locked_warehouse_names_the_process_and_how_to_free_it(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(warehouse)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(duckdb.IOException) as raised:
            duckdb.connect(str(warehouse))
    finally:
        holder.kill()
        holder.wait()
    locked = WarehouseLockedError.from_duckdb(raised.value)
    assert locked is not None
    assert f"{warehouse} is locked by another process" in str(locked)
    assert f"(PID {holder.pid})" in str(locked) and f"kill {holder.pid}" in str(locked)


def test_other_errors_are_not_taken_for_a_lock():
    assert WarehouseLockedError.from_duckdb(RuntimeError("Catalog Error: no such table")) is None


def test_a_model_with_a_syntax_error_names_its_file_and_line(tmp_path):
    project = tmp_path / "project"
    (project / "models").mkdir(parents=True)
    (project / "config.yaml").write_text(
        "gateways:\n  local:\n    connection:\n      type: duckdb\nmodel_defaults:\n  dialect: duckdb\n"
    )
    (project / "models" / "broken.sql").write_text("MODEL (name s.broken, kind FULL);\n\nSELEC 1 AS a\n")

    with pytest.raises(Exception) as raised:
        Context(paths=str(project))
    message = str(load_error(raised.value, project))
    assert message.startswith(f"SQLMesh could not load the project in {project}.")
    assert "project/models/broken.sql, line 3" in message
    assert "SQL syntax error" in message and "`SELEC 1 AS a`" in message
