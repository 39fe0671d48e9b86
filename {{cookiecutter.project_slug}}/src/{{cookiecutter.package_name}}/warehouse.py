"""The warehouse, for Dagster assets that write tables SQLMesh reads.

Its connection is the one SQLMesh's gateway uses, read from
``sqlmesh_project/config.py`` each time an asset connects: both always see the
same tables, and a change to the config (or to the environment variables it
reads) applies to both.
"""

{% if cookiecutter.warehouse == "duckdb" -%}
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import duckdb
from dagster import ConfigurableResource, Failure, InitResourceContext, get_dagster_logger
from pydantic import Field, PrivateAttr

from .sqlmesh_integration.execution.coordination import Coordination, Holder
from .sqlmesh_integration.project.resource import gateway_connection
from .sqlmesh_integration.vocabulary.diagnostics import WarehouseLockedError
{%- elif cookiecutter.warehouse == "spark" -%}
from collections.abc import Sequence
from typing import Any

from dagster import ConfigurableResource
from pydantic import Field
from sqlglot import exp

from .sqlmesh_integration.project.resource import gateway_connection
{%- else -%}
from collections.abc import Sequence
from typing import Any

from dagster import ConfigurableResource
from pydantic import Field

from .sqlmesh_integration.project.resource import gateway_connection
{%- endif %}


class WarehouseResource(ConfigurableResource):
    """Writes tables into the warehouse SQLMesh builds its models in."""

    project_dir: str = Field(description="The SQLMesh project whose config names the warehouse.")
    gateway: str | None = Field(default=None, description="Its gateway; None uses the default.")
{%- if cookiecutter.warehouse == "duckdb" %}
    lock_timeout_seconds: float = Field(
        default=3600, gt=0, description="How long to wait while a SQLMesh execution holds the file."
    )
    _run_id: str | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: InitResourceContext) -> None:
        # Named to a SQLMesh execution that waits for the file while this asset writes it.
        self._run_id = context.run.run_id if context.run else None

    @contextmanager
    def holding(self) -> Iterator[None]:
        """Hold the DuckDB file as SQLMesh's executions do, waiting while one has it.

        DuckDB lets one process open the file at a time: an asset started
        while another run's SQLMesh execution has it waits for the file
        instead of failing on DuckDB's lock (the integration's
        ``execution/coordination.py``).
        """
        settings = gateway_connection(self.project_dir, self.gateway)
        coordination = Coordination.for_connections(
            settings, settings, None, Holder.this_process(self._run_id), self.lock_timeout_seconds, _log_wait
        )
        with coordination, coordination.warehouse():
            yield

    def connect(self) -> duckdb.DuckDBPyConnection:
        """A connection to SQLMesh's DuckDB warehouse, opened as its gateway opens it.

        SQLMesh's own connection factory and initialisation: a ``database``
        file, or ``catalogs`` attached with the first one in use, extensions
        and settings loaded. A file another process holds fails saying which.
        """
        settings = gateway_connection(self.project_dir, self.gateway)
        try:
            connection = settings._connection_factory_with_kwargs()
            initialise = settings._cursor_init
            if initialise is not None:
                initialise(connection)
            return connection
        except duckdb.IOException as error:
            locked = WarehouseLockedError.from_duckdb(error)
            if locked is None:
                raise
            raise Failure(str(locked), allow_retries=False) from None
{%- elif cookiecutter.warehouse == "postgres" %}

    def connect(self) -> Any:
        """A psycopg2 connection to SQLMesh's PostgreSQL database, opened as its gateway opens it.

        SQLMesh's own connection factory with the gateway's settings; a
        ``role`` is set for the session, as SQLMesh sets it.
        """
        settings = gateway_connection(self.project_dir, self.gateway)
        connection = settings._connection_factory_with_kwargs()
        initialise = settings._cursor_init
        if initialise is not None:
            with connection.cursor() as cursor:
                initialise(cursor)
        return connection
{%- endif %}

    def replace_table(self, table: str, columns: dict[str, str], rows: Sequence[Sequence[Any]]) -> int:
        """Make ``table`` (``schema.name``) hold exactly ``rows``; return how many.

        One transaction: a reader sees the previous table or the new one,
        never an empty or half-written table. ``columns`` maps each column to
        its SQL type, in the order of the values in each row.
        """
        schema = table.split(".")[0]
{%- if cookiecutter.warehouse == "spark" %}
        # Spark has no transactions: SQLMesh's own engine adapter for the gateway (the Spark session
        # its runs use) overwrites the table in one statement, as SQLMesh replaces a FULL model's.
        # The rows go as a VALUES list cast to the columns' types: fine for a landing table of
        # this size; load larger data with Spark's own readers.
        adapter = gateway_connection(self.project_dir, self.gateway).create_engine_adapter()
        types = {name: exp.DataType.build(sql_type, dialect="duckdb") for name, sql_type in columns.items()}
        if rows:
            source = exp.values([tuple(row) for row in rows], alias="source", columns=list(columns))
            query = exp.select(*(exp.cast(exp.column(n), t).as_(n) for n, t in types.items())).from_(source)
        else:
            query = exp.select(*(exp.cast(exp.null(), t).as_(n) for n, t in types.items())).where(exp.false())
        adapter.create_schema(schema)
        adapter.replace_query(table, query, target_columns_to_types=types)
{%- else %}
        definition = ", ".join(f"{name} {sql_type}" for name, sql_type in columns.items())
        placeholders = ", ".join(["{% if cookiecutter.warehouse == "duckdb" %}?{% else %}%s{% endif %}"] * len(columns))
        insert = f"INSERT INTO {table} VALUES ({placeholders})"
        statements = [
            f"CREATE SCHEMA IF NOT EXISTS {schema}",
            f"DROP TABLE IF EXISTS {table}",
            f"CREATE TABLE {table} ({definition})",
        ]
{%- if cookiecutter.warehouse == "duckdb" %}
        with self.holding(), self.connect() as connection:
            connection.begin()
            for statement in statements:
                connection.execute(statement)
            if rows:
                connection.executemany(insert, [list(row) for row in rows])
            connection.commit()
{%- else %}
        connection = self.connect()
        try:
            with connection, connection.cursor() as cursor:  # commits, or rolls back on error
                # Two runs replacing the table at once take turns (two concurrent CREATE TABLE or
                # CREATE SCHEMA of one name fail in PostgreSQL); the lock ends with the transaction.
                cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"replace_table {table}",))
                for statement in statements:
                    cursor.execute(statement)
                cursor.executemany(insert, rows)
        finally:
            connection.close()
{%- endif %}
{%- endif %}
        return len(rows)
{%- if cookiecutter.warehouse == "duckdb" %}


def _log_wait(text: str, models: Collection[str]) -> None:
    get_dagster_logger().info(text)  # the step's log, in a run
{%- endif %}
