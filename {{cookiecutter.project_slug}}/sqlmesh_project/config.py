"""SQLMesh configuration of this project.

Written in Python rather than YAML so that the DuckDB file is found from this
file's location, not from the directory a command happens to run in.

Where things live (override with environment variables):

- ``WAREHOUSE_PATH``: the DuckDB file holding the tables and views. Default:
  ``data/warehouse.duckdb`` at the project root. Its folder is created when missing.
- SQLMesh state (snapshots, intervals, environments) is kept inside the same
  DuckDB file, in the ``sqlmesh`` schema, as ``sqlmesh init`` does for DuckDB.
  To move it, give the gateway a ``state_connection`` (for example a second
  DuckDB file, or Postgres for a shared deployment).
"""

import os
from pathlib import Path

from sqlmesh.core.config import (
    Config,
    DuckDBConnectionConfig,
    GatewayConfig,
    ModelDefaultsConfig,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
WAREHOUSE_PATH = Path(
    os.environ.get("WAREHOUSE_PATH", PROJECT_ROOT / "data" / "warehouse.duckdb")
).resolve()
WAREHOUSE_PATH.parent.mkdir(parents=True, exist_ok=True)

config = Config(
    gateways={
        "local": GatewayConfig(
            connection=DuckDBConnectionConfig(database=str(WAREHOUSE_PATH)),
        ),
    },
    default_gateway="local",
    model_defaults=ModelDefaultsConfig(dialect="duckdb", start="{{ cookiecutter.start_date }}"),
    # SQLMesh sends anonymous usage analytics unless told otherwise.
    # Set this to False (or drop the line) to send them.
    disable_anonymized_analytics=True,
)
