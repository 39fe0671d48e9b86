"""Dagster assets that land data for SQLMesh to read.

SQLMesh builds models from tables that already exist in the warehouse. When a
Dagster asset writes such a table, the SQLMesh project declares it as an
external model (``sqlmesh_project/external_models.yaml``) and the translator
gives both the same asset key (``landing.revenue_targets`` is
``landing/revenue_targets``): the SQLMesh models that read the table are
downstream of the asset, and a run that selects both writes the table before
SQLMesh reads it.
"""

from datetime import date
from decimal import Decimal

from dagster import AssetKey, MaterializeResult, asset

from .warehouse import WarehouseResource

REVENUE_TARGETS_TABLE = "landing.revenue_targets"

# Revenue finance expects each month, in dollars. A real project would fetch
# these from a planning tool or an API; here they are inline, so the sample
# needs no network.
MONTHLY_REVENUE_TARGETS = {
    date(2024, 1, 1): Decimal("150.00"),  # the shop opened mid-month
    date(2024, 2, 1): Decimal("400.00"),
    date(2024, 3, 1): Decimal("750.00"),
}


@asset(
    key=AssetKey(REVENUE_TARGETS_TABLE.split(".")),
    group_name="landing",
    owners=["team:analytics"],
    kinds={"python", "{{ cookiecutter.warehouse }}"},
    description="Monthly revenue targets set by finance, read by the SQLMesh model marts.revenue_vs_target.",
)
def revenue_targets(warehouse: WarehouseResource) -> MaterializeResult:
    """Replace the targets table with MONTHLY_REVENUE_TARGETS, in one transaction."""
    rows = warehouse.replace_table(
        REVENUE_TARGETS_TABLE,
        {"month": "DATE", "target_revenue": "DECIMAL(18, 2)"},
        sorted(MONTHLY_REVENUE_TARGETS.items()),
    )
    return MaterializeResult(
        metadata={"dagster/row_count": rows, "dagster/table_name": REVENUE_TARGETS_TABLE}
    )
