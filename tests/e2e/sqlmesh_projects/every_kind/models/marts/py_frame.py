import typing as t
from datetime import datetime

import pandas as pd
from sqlmesh import ExecutionContext, model


@model("marts.py_frame", kind="FULL", columns={"status": "text", "orders": "int"})
def execute(
    context: ExecutionContext, start: datetime, end: datetime, execution_time: datetime, **kwargs: t.Any
) -> pd.DataFrame:
    table = context.resolve_table("staging.orders")
    return context.fetchdf(f"SELECT status, COUNT(*)::INT AS orders FROM {table} GROUP BY status")
