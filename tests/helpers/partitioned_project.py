"""The SQLMesh project with partitioned models (``e2e/sqlmesh_projects/partitioned``), and its days.

Its start is fourteen days before today (``model_defaults.start``), so day 0
is that date and day 13 is yesterday, the last complete partition.
"""

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

from helpers.project import Scratch

PROJECT = Path(__file__).resolve().parents[1] / "e2e" / "sqlmesh_projects" / "partitioned"
START = datetime.now(UTC).date() - timedelta(days=14)
PARTITIONED = ["staging/orders", "marts/daily_revenue"]
"""The project's partitioned assets; ``marts/revenue_total`` is not partitioned."""


def day(number: int) -> str:
    """The partition key of the project's day ``number`` (0 is its start)."""
    return (START + timedelta(days=number)).isoformat()


def days(first: int, last: int) -> list[str]:
    return [day(number) for number in range(first, last + 1)]


def range_tags(first: int, last: int) -> dict[str, str]:
    """The tags of a run for a range of partitions, as a single-run backfill launches it."""
    return {
        "dagster/asset_partition_range_start": day(first),
        "dagster/asset_partition_range_end": day(last),
    }


def use_partitioned_project(scratch: Scratch) -> None:
    """Point ``scratch`` at a copy of the project, its source holding orders of 10, 20 and 30 a day."""
    scratch.sqlmesh_project = scratch.root / "partitioned"
    shutil.copytree(PROJECT, scratch.sqlmesh_project)
    rows = ", ".join(
        f"({number * 10 + i}, DATE '{day(number)}', '{10 * (i + 1)}')"
        for number in range(15)
        for i in range(3)
    )
    scratch.execute(
        "CREATE SCHEMA landing; CREATE TABLE landing.orders (order_id INT, order_date DATE, amount TEXT); "
        f"INSERT INTO landing.orders VALUES {rows}"
    )


def revenue_per_day(scratch: Scratch) -> dict[str, float]:
    rows = scratch.query("SELECT order_date, revenue FROM marts.daily_revenue ORDER BY 1")
    return {str(order_date): float(revenue) for order_date, revenue in rows}


def evaluated_batches(result: dict) -> dict[str, int]:
    return {name.removeprefix("warehouse."): count for name, count in result["evaluated"].items()}
