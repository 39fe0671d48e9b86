"""A SQLMesh project with partitioned models, for the template's partition tests.

Orders arrive in ``landing.orders``, a table the tests write as an ingestion
would (one row per order, the amount as text). Two daily incremental models
are partitioned assets; a FULL model over them is not.
"""

import os
from datetime import date, timedelta

from sqlmesh.core.config import (
    Config,
    DuckDBConnectionConfig,
    GatewayConfig,
    ModelDefaultsConfig,
    PostgresConnectionConfig,
)

# Fourteen daily intervals, whatever the date: the first is START, the last is yesterday.
START = (date.today() - timedelta(days=14)).isoformat()

# The warehouse the test gives: PostgreSQL when it sets POSTGRES_HOST, DuckDB otherwise.
if os.environ.get("POSTGRES_HOST"):
    connection = PostgresConnectionConfig(
        host=os.environ["POSTGRES_HOST"],
        port=int(os.environ["POSTGRES_PORT"]),
        user=os.environ["POSTGRES_USER"],
        password=os.environ.get("POSTGRES_PASSWORD", ""),
        database=os.environ["POSTGRES_DB"],
    )
else:
    connection = DuckDBConnectionConfig(database=os.environ["WAREHOUSE_PATH"])

config = Config(
    gateways={"local": GatewayConfig(connection=connection)},
    default_gateway="local",
    model_defaults=ModelDefaultsConfig(dialect="duckdb", start=START),
    disable_anonymized_analytics=True,
)
