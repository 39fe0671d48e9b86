import typing as t
from datetime import datetime

import pandas as pd
from sqlmesh import ExecutionContext, model


@model("marts.py_batches", kind="FULL", columns={"batch": "int", "value": "int"})
def execute(
    context: ExecutionContext, start: datetime, end: datetime, execution_time: datetime, **kwargs: t.Any
) -> t.Iterator[pd.DataFrame]:
    # A generator: SQLMesh writes each frame as it comes.
    for batch in range(3):
        yield pd.DataFrame({"batch": [batch] * 2, "value": [batch * 10, batch * 10 + 1]})
