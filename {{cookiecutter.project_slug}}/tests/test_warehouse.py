"""The warehouse resource writes where SQLMesh's gateway reads, whatever the connection settings."""
{% if cookiecutter.warehouse == "duckdb" %}
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from dagster import Failure

from {{ cookiecutter.package_name }}.warehouse import WarehouseResource

HOLD = "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('ready', flush=True); time.sleep(60)"
TARGETS = {"month": "DATE", "target": "DECIMAL(18, 2)"}


def sqlmesh_project(root: Path, connection: str) -> Path:
    """A SQLMesh project whose only gateway has ``connection`` (YAML, indented under it)."""
    project = root / "project"
    project.mkdir()
    (project / "config.yaml").write_text(
        f"gateways:\n  local:\n    connection:\n{connection}model_defaults:\n  dialect: duckdb\n"
    )
    return project


def rows(warehouse: Path, table: str) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        return connection.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()


def test_a_table_lands_in_the_gateways_database_file(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    project = sqlmesh_project(tmp_path, f"      type: duckdb\n      database: {warehouse}\n")
    resource = WarehouseResource(project_dir=str(project))

    written = resource.replace_table("landing.targets", TARGETS, [("2025-01-01", 150), ("2025-02-01", 400)])
    rewritten = resource.replace_table("landing.targets", TARGETS, [("2025-03-01", 750)])

    assert (written, rewritten) == (2, 1)
    assert [(str(month), int(target)) for month, target in rows(warehouse, "landing.targets")] == [
        ("2025-03-01", 750)
    ]


def test_with_several_catalogs_a_table_lands_in_the_first_as_in_sqlmesh(tmp_path):
    first, second = tmp_path / "warehouse.duckdb", tmp_path / "archive.duckdb"
    catalogs = f"      catalogs:\n        warehouse: {first}\n        archive: {second}\n"
    project = sqlmesh_project(tmp_path, f"      type: duckdb\n{catalogs}")
    resource = WarehouseResource(project_dir=str(project))

    resource.replace_table("landing.targets", TARGETS, [("2025-01-01", 150)])

    assert len(rows(first, "landing.targets")) == 1
    with pytest.raises(duckdb.CatalogException):
        rows(second, "landing.targets")


def test_a_file_another_process_holds_fails_the_asset_naming_the_process(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    project = sqlmesh_project(tmp_path, f"      type: duckdb\n      database: {warehouse}\n")
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(warehouse)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(Failure) as raised:
            WarehouseResource(project_dir=str(project)).replace_table("landing.targets", TARGETS, [])
    finally:
        holder.kill()
        holder.wait()
    assert f"{warehouse} is locked by another process" in str(raised.value)
    assert f"kill {holder.pid}" in str(raised.value)
{%- elif cookiecutter.warehouse == "spark" %}
from pathlib import Path

from {{ cookiecutter.package_name }}.sqlmesh_integration.project.resource import gateway_connection
from {{ cookiecutter.package_name }}.warehouse import WarehouseResource

SQLMESH_PROJECT = Path(__file__).parents[1] / "sqlmesh_project"


def test_a_table_lands_in_the_gateways_warehouse_and_is_replaced_whole():
    resource = WarehouseResource(project_dir=str(SQLMESH_PROJECT))
    columns = {"month": "DATE", "target": "DECIMAL(18, 2)"}

    written = resource.replace_table("landing.targets", columns, [("2025-01-01", 150), ("2025-02-01", 400)])
    rewritten = resource.replace_table("landing.targets", columns, [("2025-03-01", 750)])

    # Read back through SQLMesh's own adapter for the gateway, as the models read it.
    adapter = gateway_connection(str(SQLMESH_PROJECT), None).create_engine_adapter()
    stored = adapter.fetchall(
        "SELECT CAST(month AS STRING), CAST(target AS INT) FROM landing.targets ORDER BY 1"
    )
    assert (written, rewritten) == (2, 1)
    assert [tuple(row) for row in stored] == [("2025-03-01", 750)]
{%- else %}
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.warehouse import WarehouseResource

SQLMESH_PROJECT = Path(__file__).parents[1] / "sqlmesh_project"


@pytest.mark.usefixtures("fresh_warehouse")
def test_a_table_lands_in_the_gateways_database_and_is_replaced_whole():
    resource = WarehouseResource(project_dir=str(SQLMESH_PROJECT))
    columns = {"month": "DATE", "target": "DECIMAL(18, 2)"}

    written = resource.replace_table("landing.targets", columns, [("2025-01-01", 150), ("2025-02-01", 400)])
    rewritten = resource.replace_table("landing.targets", columns, [("2025-03-01", 750)])

    connection = resource.connect()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT month::text, target::int FROM landing.targets ORDER BY 1")
            stored = cursor.fetchall()
    finally:
        connection.close()
    assert (written, rewritten) == (2, 1)
    assert stored == [("2025-03-01", 750)]
{%- endif %}
