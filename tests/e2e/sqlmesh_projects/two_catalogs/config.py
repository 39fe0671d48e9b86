"""Relative paths, read from this folder by SQLMesh's CLI: data in two catalogs, state apart."""

from sqlmesh.core.config import Config, DuckDBConnectionConfig, GatewayConfig, ModelDefaultsConfig

config = Config(
    gateways={
        "team": GatewayConfig(
            connection=DuckDBConnectionConfig(
                catalogs={"warehouse": "warehouse.duckdb", "landing": "landing.duckdb"}
            ),
            state_connection=DuckDBConnectionConfig(database="state.duckdb"),
        )
    },
    default_gateway="team",
    model_defaults=ModelDefaultsConfig(dialect="duckdb", start="2026-01-01"),
)
