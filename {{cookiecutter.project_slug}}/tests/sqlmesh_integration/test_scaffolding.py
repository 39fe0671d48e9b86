"""``dg scaffold defs ...SQLMeshProjectComponent <folder>``: a defs.yaml that loads, and with init, a project.

The scaffolder is called as ``dg`` calls it (Dagster's ``scaffold_object``),
into a sandbox's defs folder, and the folder is then loaded as the code
location loads ``defs/``.
"""

import json
from pathlib import Path

import pytest
import yaml
from dagster import AssetKey
from dagster.components.component_scaffolding import scaffold_object
from dagster.components.testing import create_defs_folder_sandbox

from {{ cookiecutter.package_name }}.sqlmesh_integration import SQLMeshProjectComponent
from {{ cookiecutter.package_name }}.sqlmesh_integration.scaffolding import project_name

COMPONENT = f"{SQLMeshProjectComponent.__module__.rsplit('.', 1)[0]}.{SQLMeshProjectComponent.__name__}"
EXAMPLE_MODELS = {"full_model", "incremental_model", "seed_model"}
"""What ``sqlmesh init duckdb`` creates, in the schema ``sqlmesh_example``."""


def test_init_creates_a_sqlmesh_project_and_a_defs_yaml_that_loads(tmp_path: Path):
    with create_defs_folder_sandbox(project_name="scaffolded") as sandbox:
        folder = sandbox.defs_folder_path / "finance-eu"
        folder.mkdir()
        params = {"project_dir": str(tmp_path / "finance_project"), "init": True}
        scaffold_object(folder, COMPONENT, json.dumps(params), "yaml", sandbox.project_root)

        assert (tmp_path / "finance_project" / "config.yaml").is_file()
        attributes = yaml.safe_load((folder / "defs.yaml").read_text())["attributes"]
        assert attributes == {"name": "finance_eu", "project_dir": params["project_dir"]}
        with sandbox.build_all_defs() as defs:
            keys = defs.resolve_asset_graph().materializable_asset_keys
            assert keys == {AssetKey(["sqlmesh_example", name]) for name in EXAMPLE_MODELS}
            assert set(defs.resources) == {"finance_eu", "finance_eu_results"}


def test_init_refuses_a_folder_that_holds_a_project(tmp_path: Path):
    (tmp_path / "config.yaml").write_text("model_defaults:\n  dialect: duckdb\n")
    with create_defs_folder_sandbox() as sandbox:
        params = json.dumps({"project_dir": str(tmp_path), "init": True})
        with pytest.raises(FileExistsError, match="is a SQLMesh project already; drop --init"):
            scaffold_object(sandbox.defs_folder_path, COMPONENT, params, "yaml", sandbox.project_root)


def test_the_name_is_the_folders_made_valid():
    assert [project_name(name) for name in ["finance", "finance-eu", "2024", "_x_"]] == [
        "finance",
        "finance_eu",
        "sqlmesh_2024",
        "x",
    ]
