"""The warehouse, for Dagster assets that write tables SQLMesh reads.

SQLMesh reaches the warehouse through ``sqlmesh_project/config.py``. Assets
written in Python reach the same {% if cookiecutter.warehouse == "duckdb" %}DuckDB file{% else %}PostgreSQL database{% endif %} through this resource, read
from the same environment variables, so both always see the same tables.
"""

import os
from collections.abc import Sequence
{%- if cookiecutter.warehouse == "duckdb" %}
from pathlib import Path
{%- endif %}
from typing import Any

{% if cookiecutter.warehouse == "duckdb" -%}
import duckdb
{%- else -%}
import psycopg2
{%- endif %}
from dagster import ConfigurableResource{% if cookiecutter.warehouse == "duckdb" %}, Failure{% endif %}
from pydantic import Field
{%- if cookiecutter.warehouse == "duckdb" %}

from .sqlmesh_integration.diagnostics import WarehouseLockedError

# sqlmesh_project/config.py's default, from this file's place in the project.
DEFAULT_WAREHOUSE_PATH = Path(__file__).resolve().parents[2] / "data" / "warehouse.duckdb"
{%- endif %}


class WarehouseResource(ConfigurableResource):
    """Writes tables into the warehouse SQLMesh builds its models in."""
{%- if cookiecutter.warehouse == "duckdb" %}

    path: str | None = Field(
        default=None,
        description="The DuckDB file; None reads WAREHOUSE_PATH when connecting, as SQLMesh's config does.",
    )

    def database_path(self) -> Path:
        """The DuckDB file, resolved when used so that a test's WAREHOUSE_PATH applies."""
        return Path(self.path or os.environ.get("WAREHOUSE_PATH", DEFAULT_WAREHOUSE_PATH)).resolve()

    def connect(self) -> duckdb.DuckDBPyConnection:
        """A connection to the file; a file another process holds fails saying which process."""
        try:
            return duckdb.connect(str(self.database_path()))
        except duckdb.IOException as error:
            locked = WarehouseLockedError.from_duckdb(error)
            if locked is None:
                raise
            raise Failure(str(locked), allow_retries=False) from None
{%- else %}

    database: str | None = Field(
        default=None,
        description="The database; None reads POSTGRES_DB when connecting, as SQLMesh's config does.",
    )

    def connection_settings(self) -> dict[str, Any]:
        """The POSTGRES_* settings sqlmesh_project/config.py uses, read when connecting."""
        return {
            "host": os.environ.get("POSTGRES_HOST", "127.0.0.1"),
            "port": int(os.environ.get("POSTGRES_PORT", "5432")),
            "user": os.environ.get("POSTGRES_USER", "postgres"),
            "password": os.environ.get("POSTGRES_PASSWORD", ""),
            "dbname": self.database or os.environ.get("POSTGRES_DB", "warehouse"),
        }
{%- endif %}

    def replace_table(self, table: str, columns: dict[str, str], rows: Sequence[Sequence[Any]]) -> int:
        """Make ``table`` (``schema.name``) hold exactly ``rows``; return how many.

        One transaction: a reader sees the previous table or the new one,
        never an empty or half-written table. ``columns`` maps each column to
        its SQL type, in the order of the values in each row.
        """
        schema = table.split(".")[0]
        definition = ", ".join(f"{name} {sql_type}" for name, sql_type in columns.items())
        placeholders = ", ".join(["{% if cookiecutter.warehouse == "duckdb" %}?{% else %}%s{% endif %}"] * len(columns))
        insert = f"INSERT INTO {table} VALUES ({placeholders})"
        statements = [
            f"CREATE SCHEMA IF NOT EXISTS {schema}",
            f"DROP TABLE IF EXISTS {table}",
            f"CREATE TABLE {table} ({definition})",
        ]
{%- if cookiecutter.warehouse == "duckdb" %}
        with self.connect() as connection:
            connection.begin()
            for statement in statements:
                connection.execute(statement)
            if rows:
                connection.executemany(insert, [list(row) for row in rows])
            connection.commit()
{%- else %}
        connection = psycopg2.connect(**self.connection_settings())
        try:
            with connection, connection.cursor() as cursor:  # commits, or rolls back on error
                for statement in statements:
                    cursor.execute(statement)
                cursor.executemany(insert, rows)
        finally:
            connection.close()
{%- endif %}
        return len(rows)
