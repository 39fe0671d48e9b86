"""A Python model filling one row per day of its interval."""

import typing as t
from datetime import datetime, timedelta

import pandas as pd
from sqlmesh import ExecutionContext, model
from sqlmesh.core.model.kind import ModelKindName


@model(
    "staging.events_py",
    kind={"name": ModelKindName.INCREMENTAL_BY_TIME_RANGE, "time_column": "event_date"},
    cron="@daily",
    tags=["dagster_partitioned"],
    columns={"event_date": "date", "source": "text"},
)
def execute(context: ExecutionContext, start: datetime, end: datetime, **kwargs: t.Any) -> pd.DataFrame:
    days = []
    day = start
    while day < end:
        days.append(day.date())
        day += timedelta(days=1)
    return pd.DataFrame({"event_date": days, "source": ["python"] * len(days)})
