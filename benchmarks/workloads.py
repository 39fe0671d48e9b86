"""The benchmark's model graph and the SQL of its models, for SQLMesh and for dbt.

One DAG serves every contestant: model 0 is the seed (layer 0), then
MODELS_PER_LAYER models per layer, each joining one or two models of the layer
above on ``id``. Two workloads run on that DAG:

- ``synthetic``: the seed is a 1000-row CSV; each model is a cheap join, so the
  times are the tools' overhead;
- ``realistic``: the seed is a model that generates REALISTIC_ROWS rows with
  DuckDB's ``range()`` (the same SQL for SQLMesh and dbt, so neither loads a
  file the other does not); each model joins its parents on ``id``, aggregates
  the result by ``grp`` (an average and a distinct count over 1000 groups),
  joins the aggregate back and adds a running sum per group (a window sorted
  by ``id``): more than 0.3 s of DuckDB work per model on 2 cores.

Every model keeps the seed's rows and columns (id, grp, amount, label), so any
model can read any other. :func:`model_select` writes a model's query with a
caller-supplied way to name its parents: SQLMesh's model names, dbt's ``ref()``
or plain DuckDB table names for the calibration.
"""

from __future__ import annotations

import random
from collections.abc import Callable

MODELS_PER_LAYER = 10
SEED_ROWS = 1000
REALISTIC_ROWS = 1_000_000
WORKLOADS = ("synthetic", "realistic")


def layer_of(index: int) -> int:
    """Model 0 is the seed (layer 0); then MODELS_PER_LAYER models per layer."""
    return 0 if index == 0 else (index - 1) // MODELS_PER_LAYER + 1


def schema_of(index: int) -> str:
    return f"layer_{layer_of(index)}"


def model_name(index: int) -> str:
    """The qualified name every contestant builds: ``layer_<L>.model_<i>``."""
    return f"{schema_of(index)}.model_{index}"


def parents_of(index: int) -> list[int]:
    """One or two models of the layer above, chosen from the model's own index.

    Seeding with the index alone keeps model i identical for every N, so a
    larger project is the smaller one plus more models.
    """
    if index == 0:
        return []
    layer = layer_of(index)
    if layer == 1:
        return [0]
    above = range((layer - 2) * MODELS_PER_LAYER + 1, (layer - 1) * MODELS_PER_LAYER + 1)
    rng = random.Random(index)
    return sorted(rng.sample(above, 1 if rng.random() < 0.5 else 2))


def seed_csv() -> str:
    """The synthetic workload's seed: SEED_ROWS rows."""
    rows = ["id,grp,amount,label"]
    rows += [f"{i},{i % 10},{(i * 37) % 1000 / 10:.1f},item-{i}" for i in range(1, SEED_ROWS + 1)]
    return "\n".join(rows) + "\n"


def generated_seed_select() -> str:
    """The realistic workload's seed: REALISTIC_ROWS rows made by DuckDB, the same every time."""
    return f"""SELECT
  i::INTEGER AS id,
  (i % 1000)::INTEGER AS grp,
  (((i * 37) % 100000) / 100)::DOUBLE AS amount,
  'item-' || i::VARCHAR AS label
FROM range(1, {REALISTIC_ROWS + 1}) AS t(i)
"""


def model_select(index: int, workload: str, parent: Callable[[int], str]) -> str:
    """Model ``index``'s query (index > 0, or 0 in the realistic workload); ``parent(p)`` names model p."""
    if index == 0:
        assert workload == "realistic", "the synthetic seed is a CSV, not a query"
        return generated_seed_select()
    parents = parents_of(index)
    amount = "p0.amount" if len(parents) == 1 else "(p0.amount + p1.amount) / 2"
    joins = "".join(f"\nJOIN {parent(p)} AS p{k} ON p0.id = p{k}.id" for k, p in enumerate(parents[1:], 1))
    if workload == "synthetic":
        return f"""SELECT
  p0.id,
  p0.grp,
  {amount} + {index % 7} AS amount,
  p0.label
FROM {parent(parents[0])} AS p0{joins}
"""
    return f"""WITH joined AS (
  SELECT p0.id, p0.grp, {amount} + {index % 7} AS amount, p0.label
  FROM {parent(parents[0])} AS p0{joins}
), by_group AS (
  SELECT grp, AVG(amount) AS grp_avg, COUNT(DISTINCT label) AS grp_labels
  FROM joined
  GROUP BY grp
)
SELECT
  j.id,
  j.grp,
  j.amount + (j.amount - g.grp_avg) / g.grp_labels
    + SUM(j.amount) OVER (PARTITION BY j.grp ORDER BY j.id) / 1e9 AS amount,
  j.label
FROM joined AS j
JOIN by_group AS g ON j.grp = g.grp
"""


# Run with a DuckDB interpreter (the baked project's): build every model in order into a scratch
# file, timing each CREATE TABLE; prints {"seconds": [...]} (index order). stdin: the statements.
CALIBRATE = """
import json, sys, time
import duckdb
statements = json.loads(sys.stdin.read())
connection = duckdb.connect(sys.argv[1])
connection.execute("SET enable_progress_bar = false")  # it would print to stdout on a slow query
seconds = []
for schema, table, select in statements:
    connection.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    start = time.perf_counter()
    connection.execute(f"CREATE OR REPLACE TABLE {schema}.{table} AS {select}")
    seconds.append(time.perf_counter() - start)
connection.close()
print(json.dumps({"seconds": seconds}))
"""


def calibration_statements(models: int, workload: str) -> list[tuple[str, str, str]]:
    """(schema, table, select) of every model of the realistic workload, in index order (parents first)."""
    assert workload == "realistic", "only the realistic workload is calibrated (its seed is a query)"
    return [(schema_of(i), f"model_{i}", model_select(i, workload, model_name)) for i in range(models)]
