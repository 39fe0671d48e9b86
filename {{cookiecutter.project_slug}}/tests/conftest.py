"""Keep tests away from your own warehouse and Dagster history.

The environment is set before anything imports the definitions, because the
SQLMesh config reads it when the project is loaded.
"""

import os
{%- if cookiecutter.sqlmesh_project_path %}
import shutil
{%- endif %}
import tempfile
from pathlib import Path
{%- if cookiecutter.warehouse == "postgres" %}

import psycopg2
import pytest
{%- endif %}

_scratch = Path(tempfile.mkdtemp(prefix="sqlmesh-dagster-tests-"))
{%- if cookiecutter.warehouse == "duckdb" %}
os.environ["WAREHOUSE_PATH"] = str(_scratch / "warehouse.duckdb")
{%- else %}
# A database of its own next to yours (POSTGRES_DB with "_test"), made anew for each session.
_WAREHOUSE_DB = os.environ.get("POSTGRES_DB", "warehouse")
os.environ["POSTGRES_DB"] = f"{_WAREHOUSE_DB}_test"
{%- endif %}
{%- if cookiecutter.sqlmesh_project_path %}
# Your SQLMesh project, copied without its warehouse files: a relative path in its config
# (database: db.db) then names a file of the copy, so the tests never touch your data.
shutil.copytree(
    Path(__file__).resolve().parents[1] / "sqlmesh_project",
    _scratch / "sqlmesh_project",
    ignore=shutil.ignore_patterns(".cache", "logs", "*.db", "*.duckdb", "*.wal"),
)
os.environ["SQLMESH_PROJECT_DIR"] = str(_scratch / "sqlmesh_project")
{%- endif %}
os.environ["DAGSTER_HOME"] = str(_scratch / "dagster_home")
(_scratch / "dagster_home").mkdir()
(_scratch / "dagster_home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
{%- if cookiecutter.warehouse == "postgres" %}


@pytest.fixture(scope="session")
def fresh_warehouse() -> str:
    """Drop and create the test database; fail with what to do when PostgreSQL is not reachable."""
    settings = {
        "host": os.environ.get("POSTGRES_HOST", "127.0.0.1"),
        "port": int(os.environ.get("POSTGRES_PORT", "5432")),
        "user": os.environ.get("POSTGRES_USER", "postgres"),
        "password": os.environ.get("POSTGRES_PASSWORD", ""),
    }
    try:
        connection = psycopg2.connect(dbname="postgres", connect_timeout=5, **settings)
    except psycopg2.OperationalError as error:
        pytest.fail(
            f"PostgreSQL is not reachable with the POSTGRES_* settings ({error}). Start it, or set "
            "POSTGRES_HOST, POSTGRES_PORT, POSTGRES_USER and POSTGRES_PASSWORD (see .env.example).",
            pytrace=False,
        )
    database = os.environ["POSTGRES_DB"]
    connection.autocommit = True  # DROP/CREATE DATABASE cannot run in a transaction
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{database}"')
        cursor.execute(f'CREATE DATABASE "{database}"')
    connection.close()
    return database
{%- endif %}
