"""A SQLMesh project with every model kind and the project features teams use.

The template's tests run it with bare SQLMesh and through the generated
project's Dagster integration, and compare what each did, model by model.
Some models fail and some audits fail on purpose (see README.md).
"""

import os
from datetime import date, timedelta
from pathlib import Path

from sqlmesh.core.config import Config, DuckDBConnectionConfig, GatewayConfig, ModelDefaultsConfig

WAREHOUSE = Path(os.environ["WAREHOUSE_PATH"]).resolve()
# A second catalog: DuckDB attaches another file, named after the catalog.
ARCHIVE = WAREHOUSE.with_name(f"{WAREHOUSE.stem}_archive.duckdb")
# Ten days of daily intervals, whatever the date: the incremental models stay small.
START = (date.today() - timedelta(days=10)).isoformat()

config = Config(
    gateways={
        "local": GatewayConfig(
            connection=DuckDBConnectionConfig(catalogs={"warehouse": str(WAREHOUSE), "archive": str(ARCHIVE)})
        )
    },
    default_gateway="local",
    model_defaults=ModelDefaultsConfig(dialect="duckdb", start=START),
    before_all=[
        # The external source, as an ingestion tool would load it: one NULL id, one unknown kind.
        "CREATE SCHEMA IF NOT EXISTS landing",
        (
            "CREATE OR REPLACE TABLE landing.events AS SELECT * FROM (VALUES (1, 'click'), (2, 'view'), "
            "(NULL, 'view'), (4, 'scroll')) AS t(event_id, kind)"
        ),
    ],
    after_all=[
        "CREATE SCHEMA IF NOT EXISTS ops",
        "CREATE OR REPLACE TABLE ops.after_all_ran AS SELECT 1 AS ran",
    ],
    disable_anonymized_analytics=True,
)
