"""Steps run in the order SQLMesh evaluates the models, after every step that is not SQLMesh's.

The order SQLMesh really took is read off the run's execution stream: SQLMesh
reports each model as it finishes it, and each event records when (``at``).
"""

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from dagster import DagsterInstance, Definitions, ExecuteInProcessResult, asset
from small_projects import write_duckdb_config

from {{ cookiecutter.package_name }}.sqlmesh_integration import SQLMeshResource, SQLMeshRunResults, sqlmesh_assets
from {{ cookiecutter.package_name }}.sqlmesh_integration.vocabulary.model_graph import evaluation_order

# SQLMesh takes every model of a level before any model of the next, each level in name
# order: a.child before b.leaf. Left to its own order, Dagster would start b.leaf first
# (its parent finished first), and a.child's step would wait behind it.
MODELS = {
    "m.other": "SELECT 3 AS n",
    "z.root": "SELECT 1 AS n",
    "a.child": "SELECT n FROM z.root",
    "a.grand": "SELECT n FROM a.child",
    "b.leaf": "SELECT n FROM m.other",
}


def definitions(root: Path) -> tuple[Definitions, SQLMeshResource]:
    folder = root / "sqlmesh_project"
    (folder / "models").mkdir(parents=True)
    write_duckdb_config(folder, root / "warehouse.duckdb", start="2025-01-01")
    for name, query in MODELS.items():
        (folder / "models" / f"{name}.sql").write_text(f"MODEL (name {name}, kind FULL);\n{query}\n")

    @asset
    def not_sqlmesh() -> None:
        """A step of the run that is not SQLMesh's."""

    sqlmesh = SQLMeshResource(project_dir=str(folder))
    assets = [*sqlmesh_assets(sqlmesh), not_sqlmesh]
    return Definitions(
        assets=assets, resources={"sqlmesh": sqlmesh, "sqlmesh_results": SQLMeshRunResults()}
    ), sqlmesh


@dataclass(frozen=True)
class Run:
    """One in-process run of every asset, and the order in which SQLMesh finished the models in it."""

    result: ExecuteInProcessResult
    finished: list[str]
    """Model names (schema.table), in the order of the stream's model_finished events."""


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    defs, _ = definitions(tmp_path_factory.mktemp("run"))
    instance = DagsterInstance.ephemeral()
    result = defs.resolve_implicit_global_asset_job_def().execute_in_process(instance=instance)
    (stream,) = (Path(instance.storage_directory()) / "sqlmesh_runs" / result.run_id).glob("*/events-*.jsonl")
    events = [json.loads(line) for line in stream.read_text().splitlines()]
    finished = sorted(
        (event for event in events if event["event"] == "model_finished"), key=lambda e: e["at"]
    )
    return Run(result, [event["fqn"].split(".", 1)[1].replace('"', "") for event in finished])


def test_sqlmesh_takes_the_models_level_by_level(tmp_path, run):
    # The order the steps are given is the integration's reconstruction of SQLMesh's: it must be the
    # order in which SQLMesh finished the models.
    _, sqlmesh = definitions(tmp_path)
    order = [
        fqn.split(".", 1)[1].replace('"', "") for fqn in evaluation_order(sqlmesh.load_definitions().models)
    ]
    assert order == run.finished
    assert run.finished == ["m.other", "z.root", "a.child", "b.leaf", "a.grand"]


def test_each_step_has_a_priority_in_that_order_below_every_other_step(tmp_path):
    defs, _ = definitions(tmp_path)
    graph = defs.resolve_asset_graph()
    priority = {
        key.to_user_string(): int(graph.get(key).assets_def.op.tags.get("dagster/priority", 0))
        for key in graph.materializable_asset_keys
    }
    assert priority["not_sqlmesh"] == 0
    assert 0 > priority["m/other"] > priority["z/root"] > priority["a/child"]
    assert priority["a/child"] > priority["b/leaf"] > priority["a/grand"]


def test_an_in_process_run_starts_the_steps_in_sqlmesh_s_order(run):
    assert run.result.success
    started = [event.step_key for event in run.result.all_events if event.event_type_value == "STEP_START"]
    # The step that is not SQLMesh's first, then each model's step in the order SQLMesh finished them.
    assert started == ["not_sqlmesh", *(name.replace(".", "__") for name in run.finished)]
    assert len(run.result.get_asset_materialization_events()) == 6
