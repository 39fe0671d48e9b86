"""The baked starter's definitions plus Python assets next to SQLMesh models.

Two code locations (the probe loads one with ``--module mixed_graphs:<name>``):

- ``sandwich``: ``marts/customers`` (SQLMesh) -> ``landing/customer_count``
  (Python) -> ``marts/customer_count_report`` (SQLMesh, reading the table as
  an external model);
- ``ingestion``: ``landing/daily_targets`` (Python, no upstream, a few seconds
  long as an ingestion is) -> ``marts/target_report`` (SQLMesh).

Imported inside the baked project's environment (this folder on PYTHONPATH),
with the SQLMesh models and external models each test adds. The shipped
assets are rebuilt from the test's copy of the SQLMesh project
(SQLMESH_PROJECT_DIR), so they include the models the test added.
"""

import os
import time

import duckdb
from dagster import AssetExecutionContext, AssetKey, AssetsDefinition, Definitions, asset
from shop_analytics.definitions import defs as shipped


def write_landing_table(name: str, select: str, run_id: str) -> None:
    """``landing.<name>`` as ``select``, which reads the run's id from its one parameter."""
    with duckdb.connect(os.environ["WAREHOUSE_PATH"]) as connection:
        connection.execute("CREATE SCHEMA IF NOT EXISTS landing")
        connection.execute(f"CREATE OR REPLACE TABLE landing.{name} AS {select}", [run_id])


@asset(key=["landing", "customer_count"], deps=[AssetKey(["marts", "customers"])])
def customer_count(context: AssetExecutionContext) -> None:
    """Reads a table SQLMesh built, writes one SQLMesh reads, stamped with this run's id."""
    write_landing_table(
        "customer_count", "SELECT ? AS run_id, COUNT(*) AS customers FROM marts.customers", context.run.run_id
    )


@asset(key=["landing", "daily_targets"])
def daily_targets(context: AssetExecutionContext) -> None:
    """Writes a table SQLMesh reads, stamped with this run's id, after a while."""
    time.sleep(float(os.environ.get("INGESTION_SECONDS", "5")))
    write_landing_table("daily_targets", "SELECT ? AS run_id, 1000 AS target", context.run.run_id)


def with_sqlmesh(python_asset: AssetsDefinition) -> Definitions:
    """The shipped assets (SQLMesh models, the sample's own Python asset) and ``python_asset``."""
    return Definitions(
        assets=[*shipped.assets, python_asset],
        resources=shipped.resources,
        executor=shipped.executor,
    )


sandwich = with_sqlmesh(customer_count)
ingestion = with_sqlmesh(daily_targets)
