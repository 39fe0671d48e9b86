"""The baked starter's definitions plus a Python asset between two SQLMesh models.

``marts/customers`` (SQLMesh) -> ``landing/customer_count`` (this asset) ->
``marts/customer_count_report`` (SQLMesh, reading the table as an external
model). Imported inside the baked project's environment (this folder on
PYTHONPATH), with the SQLMesh model and external model the test adds.
"""

import os

import duckdb
from dagster import AssetExecutionContext, AssetKey, Definitions, asset
from shop_analytics.definitions import defs as shipped
from shop_analytics.definitions import sqlmesh
from shop_analytics.sqlmesh_integration import sqlmesh_assets


@asset(key=["landing", "customer_count"], deps=[AssetKey(["marts", "customers"])])
def customer_count(context: AssetExecutionContext) -> None:
    """Reads a table SQLMesh built, writes one SQLMesh reads, stamped with this run's id."""
    with duckdb.connect(os.environ["WAREHOUSE_PATH"]) as connection:
        connection.execute("CREATE SCHEMA IF NOT EXISTS landing")
        connection.execute(
            "CREATE OR REPLACE TABLE landing.customer_count AS "
            "SELECT ? AS run_id, COUNT(*) AS customers FROM marts.customers",
            [context.run.run_id],
        )


defs = Definitions(
    assets=[*sqlmesh_assets(sqlmesh), customer_count],
    resources=shipped.resources,
    executor=shipped.executor,
)
