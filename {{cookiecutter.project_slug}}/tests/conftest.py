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
{%- if cookiecutter.warehouse == "postgres" or cookiecutter.sqlmesh_project_path %}
{% if cookiecutter.warehouse == "postgres" %}
import psycopg2
{%- endif %}
import pytest
{%- endif %}
{%- if cookiecutter.sqlmesh_project_path and cookiecutter.warehouse == "postgres" %}
from sqlmesh.core.config import PostgresConnectionConfig

from {{ cookiecutter.package_name }}.sqlmesh_integration.project.sqlmesh_config import load_project_configs
{%- endif %}


def _new_scratch_folder() -> Path:
    """A new folder of this session's own, named by the process id and a counter, not random letters.

    Dagster reads each component setting taken from the environment as a Python literal before
    it takes it as text, and Python warns (SyntaxWarning) at a path with a random name such as
    "tmp0ifk2" (a digit before a keyword), which the test run then reports.
    """
    attempt = 0
    while True:
        folder = Path(tempfile.gettempdir()) / f"sqlmesh-dagster-tests-{os.getpid()}-{attempt}"
        try:
            folder.mkdir(mode=0o700)
            return folder
        except FileExistsError:
            attempt += 1


_scratch = _new_scratch_folder()
{%- if cookiecutter.warehouse == "duckdb" %}
os.environ["WAREHOUSE_PATH"] = str(_scratch / "warehouse.duckdb")
{%- elif cookiecutter.warehouse == "spark" and not cookiecutter.sqlmesh_project_path %}
# Tables and SQLMesh's state of their own, on the Spark of SPARK_MASTER (local threads by default).
os.environ["SPARK_WAREHOUSE_DIR"] = str(_scratch / "spark_warehouse")
os.environ["SQLMESH_STATE_PATH"] = str(_scratch / "sqlmesh_state.duckdb")
os.environ["SPARK_METASTORE_DIR"] = str(_scratch / "spark_metastore")
{%- elif not cookiecutter.sqlmesh_project_path %}
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
{%- if cookiecutter.sqlmesh_project_path and cookiecutter.warehouse == "postgres" %}


def _postgres_connections() -> list[tuple[str, str, PostgresConnectionConfig]]:
    """(gateway, role, settings) of every PostgreSQL connection of your project's config."""
    config = next(iter(load_project_configs(os.environ["SQLMESH_PROJECT_DIR"]).values()))
    return [
        (name, role, connection)
        for name, gateway in config.gateways.items()
        for role in ("connection", "state_connection")
        if isinstance(connection := getattr(gateway, role), PostgresConnectionConfig)
    ]


def _use_test_databases() -> list[PostgresConnectionConfig]:
    """Point every PostgreSQL connection at a database of its own (its database with "_test").

    Through SQLMesh's own override of a config setting by an environment variable
    (SQLMESH__GATEWAYS__<GATEWAY>__<CONNECTION>__DATABASE), so your config is not
    touched. Checked afterwards: the tests refuse to start rather than use your data.
    """
    wanted = {}
    for name, role, connection in _postgres_connections():
        wanted[name, role] = f"{connection.database}_test"
        os.environ[f"SQLMESH__GATEWAYS__{name}__{role}__DATABASE".upper()] = wanted[name, role]
    redirected = {(name, role): connection for name, role, connection in _postgres_connections()}
    for key, connection in redirected.items():
        if connection.database != wanted.get(key):
            raise RuntimeError(
                f"The tests could not point database {connection.database!r} of your SQLMesh config at a "
                "test database through SQLMESH__GATEWAYS__... variables (a config.py must let them "
                "override its settings, or read the database from the environment), so they do not run."
            )
    return list(redirected.values())


_TEST_DATABASES = _use_test_databases()
{%- endif %}
os.environ["DAGSTER_HOME"] = str(_scratch / "dagster_home")
(_scratch / "dagster_home").mkdir()
(_scratch / "dagster_home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
{%- if cookiecutter.warehouse == "postgres" %}
{%- if cookiecutter.sqlmesh_project_path %}


def _recreate_database(settings: PostgresConnectionConfig, database: str) -> None:
    """Drop and create ``database`` where ``settings`` connect; fail saying what to do if that fails."""
    try:
        connection = psycopg2.connect(
            host=settings.host,
            port=settings.port,
            user=settings.user,
            password=settings.password,
            dbname="postgres",
            connect_timeout=5,
        )
    except psycopg2.OperationalError as error:
        pytest.fail(
            f"PostgreSQL is not reachable at {settings.host}:{settings.port} as {settings.user} "
            f"({error}): start it, or correct the connection in sqlmesh_project's config.",
            pytrace=False,
        )
    connection.autocommit = True  # DROP/CREATE DATABASE cannot run in a transaction
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{database}"')
        cursor.execute(f'CREATE DATABASE "{database}"')
    connection.close()


@pytest.fixture(scope="session")
def fresh_warehouse() -> list[str]:
    """Drop and create each test database."""
    for settings in _TEST_DATABASES:
        _recreate_database(settings, settings.database)
    return [settings.database for settings in _TEST_DATABASES]


@pytest.fixture
def sqlmesh_alone_env() -> dict[str, str]:
    """Where the pipeline test's second copy of your project runs with SQLMesh alone: databases of its
    own (each test database's name with "_alone"), made anew, set through the same SQLMESH__ variables."""
    env = {}
    for name, role, connection in _postgres_connections():
        database = f"{connection.database}_alone"
        _recreate_database(connection, database)
        env[f"SQLMESH__GATEWAYS__{name}__{role}__DATABASE".upper()] = database
    return env
{%- else %}


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
{%- endif %}
{%- if cookiecutter.sqlmesh_project_path and cookiecutter.warehouse == "duckdb" %}


@pytest.fixture
def sqlmesh_alone_env(tmp_path) -> dict[str, str]:
    """Where the pipeline test's second copy of your project runs with SQLMesh alone: a warehouse file of
    its own (a relative path in your config already means a file of that copy)."""
    return {"WAREHOUSE_PATH": str(tmp_path / "alone.duckdb")}
{%- endif %}
