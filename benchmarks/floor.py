"""The ``dagster-floor`` contestant: what Dagster alone costs for the same DAG.

One no-op asset per model of the synthetic project, keyed ``layer_<L>/model_<i>``
with the same dependencies (workloads.parents_of). Each asset logs one line and
returns nothing (annotated ``-> None``, so no IO manager stores an output) and
gives one materialization. The Definitions use the in-process executor, as the
baked project does by default, and run through the same CLI
(``dagster asset materialize -m floor_definitions --select '*'``) in the baked
project's venv: the difference to ``default`` is what the integration and
SQLMesh add per step.

The module is written per N (the graph is spelled out in it, so importing it
reads no other file).
"""

from __future__ import annotations

from pathlib import Path

from workloads import layer_of, parents_of

FLOOR_MODULE = "floor_definitions"

FLOOR_SOURCE = '''\
"""No-op Dagster assets in the benchmark's model graph ({models} models): Dagster's own cost."""

from dagster import AssetExecutionContext, AssetKey, Definitions, asset, in_process_executor

# (index, layer, parents) of every model, in index order.
GRAPH = {graph!r}


def key(index: int) -> AssetKey:
    return AssetKey([f"layer_{{GRAPH[index][1]}}", f"model_{{index}}"])


def noop_asset(index: int):
    @asset(key=key(index), deps=[key(parent) for parent in GRAPH[index][2]])
    def build(context: AssetExecutionContext) -> None:
        context.log.info(f"model {{index}} built (nothing to do)")

    return build


defs = Definitions(
    assets=[noop_asset(index) for index in range(len(GRAPH))],
    executor=in_process_executor,
)
'''


def write_floor_definitions(target_dir: Path, models: int) -> str:
    """Write the floor's module for a graph of ``models`` models into ``target_dir``; return its name."""
    graph = [(index, layer_of(index), parents_of(index)) for index in range(models)]
    target_dir.mkdir(parents=True, exist_ok=True)
    (target_dir / f"{FLOOR_MODULE}.py").write_text(FLOOR_SOURCE.format(models=models, graph=graph))
    return FLOOR_MODULE
