"""SQLMesh configuration of this project.

Written in Python rather than YAML so that paths and settings come from this
file's location and the environment, not from the directory a command runs in.
{%- if cookiecutter.warehouse == "duckdb" %}

Where things live (override with environment variables):

- ``WAREHOUSE_PATH``: the DuckDB file holding the tables and views. Default:
  ``data/warehouse.duckdb`` at the project root. Its folder is created when missing.
- SQLMesh state (snapshots, intervals, environments) is kept inside the same
  DuckDB file, in the ``sqlmesh`` schema, as ``sqlmesh init`` does for DuckDB.
  To move it, give the gateway a ``state_connection`` (for example a second
  DuckDB file, or Postgres for a shared deployment).
{%- else %}

The warehouse is a PostgreSQL database, reached with the ``POSTGRES_*``
environment variables (see ``.env.example``; ``dagster`` commands read a
``.env`` file in the project folder). SQLMesh keeps its state (snapshots,
intervals, environments) in the same database, in the ``sqlmesh`` schema. To
keep it elsewhere, give the gateway a ``state_connection``.
{%- endif %}
"""

import os
{%- if cookiecutter.warehouse == "duckdb" %}
from pathlib import Path
{%- endif %}

from sqlmesh.core.config import (
    Config,
{%- if cookiecutter.warehouse == "duckdb" %}
    DuckDBConnectionConfig,
{%- endif %}
    GatewayConfig,
    ModelDefaultsConfig,
{%- if cookiecutter.warehouse == "postgres" %}
    PostgresConnectionConfig,
{%- endif %}
)
{%- if cookiecutter.warehouse == "duckdb" %}

PROJECT_ROOT = Path(__file__).resolve().parent.parent
WAREHOUSE_PATH = Path(
    os.environ.get("WAREHOUSE_PATH", PROJECT_ROOT / "data" / "warehouse.duckdb")
).resolve()
WAREHOUSE_PATH.parent.mkdir(parents=True, exist_ok=True)
CONNECTION = DuckDBConnectionConfig(database=str(WAREHOUSE_PATH))
{%- else %}

CONNECTION = PostgresConnectionConfig(
    host=os.environ.get("POSTGRES_HOST", "127.0.0.1"),
    port=int(os.environ.get("POSTGRES_PORT", "5432")),
    user=os.environ.get("POSTGRES_USER", "postgres"),
    password=os.environ.get("POSTGRES_PASSWORD", ""),
    database=os.environ.get("POSTGRES_DB", "warehouse"),
)
{%- endif %}

config = Config(
    gateways={"local": GatewayConfig(connection=CONNECTION)},
    default_gateway="local",
    # Models are written in DuckDB's SQL dialect; SQLMesh transpiles them for the warehouse.
    model_defaults=ModelDefaultsConfig(dialect="duckdb", start="{{ cookiecutter.start_date }}"),
    # SQLMesh sends anonymous usage analytics unless told otherwise.
    # Set this to False (or drop the line) to send them.
    disable_anonymized_analytics=True,
)
