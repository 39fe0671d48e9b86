"""The baked project's definitions with its SQLMesh assets only.

Imported inside the baked project's environment (its folder on PYTHONPATH)
by tests that point the project at another SQLMesh project: the sample's
Python asset writes a table only the sample reads, and with DuckDB it would
only compete with SQLMesh for the warehouse file.
"""

from dagster import Definitions
from shop_analytics.definitions import defs as shipped
from shop_analytics.definitions import sqlmesh
from shop_analytics.sqlmesh_integration import sqlmesh_assets

defs = Definitions(assets=sqlmesh_assets(sqlmesh), resources=shipped.resources, executor=shipped.executor)
