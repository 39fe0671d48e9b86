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
{%- elif cookiecutter.warehouse == "spark" %}

The warehouse is Apache Spark, reached with these environment variables (see
``.env.example``; ``dagster`` commands read a ``.env`` file in the project folder):

- ``SPARK_MASTER``: the cluster's master, ``spark://host:7077``. Default:
  ``local[2]``, Spark inside the process that runs SQLMesh (two threads).
- ``SPARK_WAREHOUSE_DIR``: where Spark writes the tables, a folder every
  executor and the driver can reach (shared storage on a real cluster).
  Default: ``data/spark_warehouse`` at the project root.
- ``SPARK_METASTORE_DIR``: Spark's catalog of those tables (Hive's metastore,
  an embedded Derby database). Default: ``data/spark_metastore``. Derby lets
  one process open it at a time; a shared cluster uses a Hive metastore
  service (``spark.hadoop.hive.metastore.uris``) or Databricks' catalog instead.
- ``SQLMESH_STATE_PATH``: SQLMesh's state (snapshots, intervals,
  environments), in a DuckDB file. Default: ``data/sqlmesh_state.duckdb``.
  SQLMesh advises against keeping its state in Spark, whose tables have no
  transactions; for a deployment shared by several hosts, give the gateway a
  PostgreSQL ``state_connection`` instead.

Spark needs Java 17 on the machine running SQLMesh. It runs with ANSI SQL
on, so that a bad cast fails as it does on DuckDB and PostgreSQL instead of
giving NULL, and writes tables as Parquet.
{%- else %}

The warehouse is a PostgreSQL database, reached with the ``POSTGRES_*``
environment variables (see ``.env.example``; ``dagster`` commands read a
``.env`` file in the project folder). SQLMesh keeps its state (snapshots,
intervals, environments) in the same database, in the ``sqlmesh`` schema. To
keep it elsewhere, give the gateway a ``state_connection``.
{%- endif %}
"""

import os
{%- if cookiecutter.warehouse in ("duckdb", "spark") %}
from pathlib import Path
{%- endif %}

from sqlmesh.core.config import (
    Config,
{%- if cookiecutter.warehouse in ("duckdb", "spark") %}
    DuckDBConnectionConfig,
{%- endif %}
    GatewayConfig,
    ModelDefaultsConfig,
{%- if cookiecutter.warehouse == "postgres" %}
    PostgresConnectionConfig,
{%- elif cookiecutter.warehouse == "spark" %}
    SparkConnectionConfig,
{%- endif %}
)
{%- if cookiecutter.warehouse == "duckdb" %}

PROJECT_ROOT = Path(__file__).resolve().parent.parent
WAREHOUSE_PATH = Path(
    os.environ.get("WAREHOUSE_PATH", PROJECT_ROOT / "data" / "warehouse.duckdb")
).resolve()
WAREHOUSE_PATH.parent.mkdir(parents=True, exist_ok=True)
CONNECTION = DuckDBConnectionConfig(database=str(WAREHOUSE_PATH))
{%- elif cookiecutter.warehouse == "spark" %}

PROJECT_ROOT = Path(__file__).resolve().parent.parent
WAREHOUSE_DIR = Path(
    os.environ.get("SPARK_WAREHOUSE_DIR", PROJECT_ROOT / "data" / "spark_warehouse")
).resolve()
STATE_PATH = Path(
    os.environ.get("SQLMESH_STATE_PATH", PROJECT_ROOT / "data" / "sqlmesh_state.duckdb")
).resolve()
STATE_PATH.parent.mkdir(parents=True, exist_ok=True)
METASTORE_DIR = Path(
    os.environ.get("SPARK_METASTORE_DIR", PROJECT_ROOT / "data" / "spark_metastore")
).resolve()
CONNECTION = SparkConnectionConfig(
    config={
        "spark.master": os.environ.get("SPARK_MASTER", "local[2]"),
        "spark.sql.warehouse.dir": str(WAREHOUSE_DIR),
        "spark.sql.ansi.enabled": "true",
        # The driver (the process running SQLMesh) listens where the executors can reach it.
        "spark.driver.host": os.environ.get("SPARK_DRIVER_HOST", "127.0.0.1"),
        "spark.driver.bindAddress": os.environ.get("SPARK_DRIVER_HOST", "127.0.0.1"),
        "spark.ui.enabled": "false",
        # Spark's catalog of the tables (Hive's metastore, an embedded Derby database) next to them,
        # not in whatever folder a command starts in. Derby lets one process open it at a time.
        "spark.hadoop.javax.jdo.option.ConnectionURL": (
            f"jdbc:derby:;databaseName={METASTORE_DIR};create=true"
        ),
        "spark.driver.extraJavaOptions": f"-Dderby.stream.error.file={METASTORE_DIR}.log",
    }
)
STATE_CONNECTION = DuckDBConnectionConfig(database=str(STATE_PATH))
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
{%- if cookiecutter.warehouse == "spark" %}
    gateways={"local": GatewayConfig(connection=CONNECTION, state_connection=STATE_CONNECTION)},
{%- else %}
    gateways={"local": GatewayConfig(connection=CONNECTION)},
{%- endif %}
    default_gateway="local",
    # Models are written in DuckDB's SQL dialect; SQLMesh transpiles them for the warehouse.
{%- if cookiecutter.warehouse == "spark" %}
    # Parquet: Spark's default table format cannot hold TIMESTAMP_NTZ columns.
    model_defaults=ModelDefaultsConfig(
        dialect="duckdb", start="{{ cookiecutter.start_date }}", storage_format="parquet"
    ),
{%- else %}
    model_defaults=ModelDefaultsConfig(dialect="duckdb", start="{{ cookiecutter.start_date }}"),
{%- endif %}
    # SQLMesh sends anonymous usage analytics unless told otherwise.
    # Set this to False (or drop the line) to send them.
    disable_anonymized_analytics=True,
)
