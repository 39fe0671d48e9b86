"""A partitioned project shaped like a real one (see README.md); DuckDB, or PostgreSQL when asked."""

import os
from datetime import date, timedelta

from sqlmesh.core.config import (
    Config,
    DuckDBConnectionConfig,
    GatewayConfig,
    ModelDefaultsConfig,
    PostgresConnectionConfig,
)

START = (date.today() - timedelta(days=20)).isoformat()

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
