"""``dg scaffold defs ...SQLMeshProjectComponent <folder>``: a defs.yaml that loads, and with init, a project.

The scaffolder is called as ``dg`` calls it (Dagster's ``scaffold_object``,
which makes the defs folder first), into a sandbox's defs folder, and the
folder is then loaded as the code location loads ``defs/``.
"""

import json
from pathlib import Path

import pytest
import yaml
from component_sandbox import COMPONENT
from dagster import AssetKey
from dagster.components.component_scaffolding import scaffold_object
from dagster.components.testing import DefsFolderSandbox, create_defs_folder_sandbox

from {{ cookiecutter.package_name }}.sqlmesh_integration.scaffolding import ScaffoldRefused, project_name

EXAMPLE_MODELS = {"full_model", "incremental_model", "seed_model"}
"""What ``sqlmesh init duckdb`` creates, in the schema ``sqlmesh_example``."""
A_CONFIG = "model_defaults:\n  dialect: duckdb\n"
"""Enough of a config.yaml for a folder to be a SQLMesh project."""


def scaffold(sandbox: DefsFolderSandbox, folder_name: str, params: dict[str, object]) -> Path:
    """``dg scaffold defs <COMPONENT> <folder_name>`` with ``params``; the defs folder."""
    folder = sandbox.defs_folder_path / folder_name
    scaffold_object(folder, COMPONENT, json.dumps(params), "yaml", sandbox.project_root)
    return folder


def test_init_without_project_dir_creates_the_project_in_a_folder_of_its_own():
    with create_defs_folder_sandbox(project_name="scaffolded") as sandbox:
        folder = scaffold(sandbox, "finance-eu", {"init": True})

        assert (sandbox.project_root / "finance_eu_sqlmesh_project" / "config.yaml").is_file()
        attributes = yaml.safe_load((folder / "defs.yaml").read_text())["attributes"]
        assert attributes == {"name": "finance_eu", "project_dir": "finance_eu_sqlmesh_project"}
        with sandbox.build_all_defs() as defs:
            keys = defs.resolve_asset_graph().materializable_asset_keys
            assert keys == {AssetKey(["sqlmesh_example", name]) for name in EXAMPLE_MODELS}
            assert set(defs.resources) == {"finance_eu", "finance_eu_results"}


def test_init_creates_the_project_in_the_project_dir_given(tmp_path: Path):
    with create_defs_folder_sandbox(project_name="scaffolded") as sandbox:
        params = {"project_dir": str(tmp_path / "finance_project"), "init": True, "name": "finance"}
        folder = scaffold(sandbox, "team", params)

        assert (tmp_path / "finance_project" / "config.yaml").is_file()
        attributes = yaml.safe_load((folder / "defs.yaml").read_text())["attributes"]
        assert attributes == {"name": "finance", "project_dir": params["project_dir"]}
        with sandbox.build_all_defs() as defs:
            assert set(defs.resources) == {"finance", "finance_results"}


def test_without_init_the_defs_yaml_points_at_the_existing_project():
    with create_defs_folder_sandbox() as sandbox:
        (sandbox.project_root / "sqlmesh_project").mkdir()
        (sandbox.project_root / "sqlmesh_project" / "config.yaml").write_text(A_CONFIG)
        folder = scaffold(sandbox, "marts", {})

        attributes = yaml.safe_load((folder / "defs.yaml").read_text())["attributes"]
        assert attributes == {"name": "marts", "project_dir": "sqlmesh_project"}
        assert "give each a `select`" in (folder / "defs.yaml").read_text()


@pytest.mark.parametrize(
    ("existing", "params", "message"),
    [
        (
            "finance_sqlmesh_project",
            {"init": True},
            "finance_sqlmesh_project is a SQLMesh project already (config.yaml): leave out --init",
        ),
        ("elsewhere", {"init": True, "project_dir": "elsewhere"}, "elsewhere is a SQLMesh project already"),
        (None, {}, "sqlmesh_project holds no SQLMesh project (no config.yaml, config.yml, config.py)"),
        (None, {"project_dir": "nowhere"}, "nowhere holds no SQLMesh project"),
        (None, {"init": True, "name": "finance eu"}, "--name 'finance eu' cannot name a SQLMesh project"),
    ],
)
def test_a_refusal_is_one_line_naming_the_folder_and_writes_nothing(existing, params, message):
    """One line that ``dg`` prints as ``Error: ...``; the defs folder ``dg`` made is gone, so the
    corrected command can run again."""
    with create_defs_folder_sandbox() as sandbox:
        if existing:
            (sandbox.project_root / existing).mkdir()
            (sandbox.project_root / existing / "config.yaml").write_text(A_CONFIG)
        before = sorted(path.name for path in sandbox.project_root.iterdir())
        with pytest.raises(ScaffoldRefused) as refusal:
            scaffold(sandbox, "finance", params)

        assert message in refusal.value.message and "\n" not in refusal.value.message
        assert not (sandbox.defs_folder_path / "finance").exists()
        assert sorted(path.name for path in sandbox.project_root.iterdir()) == before


def test_the_name_is_the_folders_made_valid():
    assert [project_name(name) for name in ["finance", "finance-eu", "2024", "_x_"]] == [
        "finance",
        "finance_eu",
        "sqlmesh_2024",
        "x",
    ]
