"""The baked demo's definitions with a translator that renames every check.

Imported inside the baked project's environment (its folder on PYTHONPATH):
the override the translator's docstring invites, as a team would write it.
"""

from dagster import Definitions
from shop_analytics.definitions import defs as shipped
from shop_analytics.definitions import sqlmesh
from shop_analytics.sqlmesh_integration import AuditIdentity, SQLMeshTranslator, sqlmesh_assets
from sqlmesh.core.model import Model


class PrefixedChecks(SQLMeshTranslator):
    def get_check_name(self, model: Model, audit: AuditIdentity, used_more_than_once: bool) -> str:
        return "audit_" + super().get_check_name(model, audit, used_more_than_once)


defs = Definitions(
    assets=sqlmesh_assets(sqlmesh, PrefixedChecks()),
    resources=shipped.resources,
    executor=shipped.executor,
)
