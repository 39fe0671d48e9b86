"""Marts layer: a customer segment per customer, computed in Python.

A Python model suits rules that read better as code than as SQL. It must
declare its output columns, because SQLMesh cannot infer them from Python code.
"""

import typing as t
from datetime import datetime

import pandas as pd
from sqlglot import exp
from sqlglot.expressions import to_column
from sqlmesh import ExecutionContext, model

# Dollars of lifetime value from which a customer counts as a VIP.
VIP_LIFETIME_VALUE = 150


def segment_of(number_of_orders: int, lifetime_value: float) -> str:
    if number_of_orders == 0:
        return "prospect"
    if lifetime_value >= VIP_LIFETIME_VALUE:
        return "vip"
    if number_of_orders == 1:
        return "one_time"
    return "regular"


@model(
    "marts.customer_segments",
    kind="FULL",
    description="Marketing segment of every customer: prospect, one_time, regular or vip.",
    owner="marketing",
    tags=["marts", "shop", "python"],
    grain="customer_id",
    # Reading marts.customers through context.resolve_table below is enough for
    # SQLMesh to find the dependency; naming it here makes it explicit.
    depends_on=["marts.customers"],
    columns={
        "customer_id": "INTEGER",
        "segment": "TEXT",
    },
    column_descriptions={
        "customer_id": "Shop account id",
        "segment": "prospect (never ordered), one_time, regular or vip (lifetime value of 150+ dollars)",
    },
    audits=[
        ("not_null", {"columns": [to_column("customer_id"), to_column("segment")]}),
    ],
)
def execute(
    context: ExecutionContext,
    start: datetime,
    end: datetime,
    execution_time: datetime,
    **kwargs: t.Any,
) -> t.Iterator[pd.DataFrame]:
    customers = context.resolve_table("marts.customers")
    # Built with SQLGlot rather than an f-string: SQLMesh writes the query in the warehouse's
    # own SQL (Spark quotes names with backticks, DuckDB and PostgreSQL with double quotes).
    query = exp.select("customer_id", "number_of_orders", "lifetime_value").from_(
        exp.to_table(customers, dialect="duckdb")
    )
    df = context.fetchdf(query)
    if df.empty:
        # SQLMesh rejects an empty DataFrame; yielding nothing means "no rows".
        return
    df["segment"] = [
        segment_of(int(orders), float(value))
        for orders, value in zip(df["number_of_orders"], df["lifetime_value"], strict=True)
    ]
    yield df[["customer_id", "segment"]]
