"""Relative paths in a SQLMesh config mean what the team's `sqlmesh` CLI means inside the project folder."""

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from {{ cookiecutter.package_name }}.sqlmesh_integration import MaterializeMode, SQLMeshResource
from {{ cookiecutter.package_name }}.sqlmesh_integration.execution.execution_stream import StreamReader, StreamWriter
from {{ cookiecutter.package_name }}.sqlmesh_integration.execution.selection import ModelSelection, RunSelection
from {{ cookiecutter.package_name }}.sqlmesh_integration.project.resource import gateway_connection
from {{ cookiecutter.package_name }}.sqlmesh_integration.project.sqlmesh_config import project_config
from {{ cookiecutter.package_name }}.sqlmesh_integration.runs.ownership import execute_to_stream

SQLMESH_CLI = Path(sys.executable).parent / "sqlmesh"
# As `sqlmesh init duckdb` writes it: a database file named relative to where the CLI runs.
INIT_CONFIG = """
gateways:
  duckdb:
    connection:
      type: duckdb
      database: db.db
default_gateway: duckdb
model_defaults:
  dialect: duckdb
  start: '2025-01-01'
"""
# A second catalog attached from a folder of the project, and a state file of its own.
CATALOGS_CONFIG = """
gateways:
  duckdb:
    connection:
      type: duckdb
      catalogs:
        db: db.db
        archive: archive/archive.db
    state_connection:
      type: duckdb
      database: state/state.db
default_gateway: duckdb
model_defaults:
  dialect: duckdb
  start: '2025-01-01'
"""


def sqlmesh_cli(project: Path, *arguments: str) -> str:
    """Run SQLMesh's own CLI inside the project folder, as its users do; return what it printed."""
    cli = subprocess.run(
        [str(SQLMESH_CLI), *arguments],
        cwd=project,
        env={**os.environ, "SQLMESH__DISABLE_ANONYMIZED_ANALYTICS": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert cli.returncode == 0, cli.stdout + cli.stderr
    return cli.stdout


def make_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config: str) -> Path:
    folder = tmp_path / "sqlmesh_project"
    (folder / "models").mkdir(parents=True)
    (folder / "archive").mkdir()
    (folder / "state").mkdir()
    (folder / "config.yaml").write_text(config)
    numbers = "MODEL (name db.sqlmesh_example.numbers, kind FULL);\nSELECT 1 AS n\n"
    (folder / "models" / "numbers.sql").write_text(numbers)
    elsewhere = tmp_path / "repository_root"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # Dagster runs from the repository's root, not the project folder
    return folder


def test_a_run_and_the_cli_in_the_project_folder_share_one_warehouse_and_one_state(tmp_path, monkeypatch):
    project = make_project(tmp_path, monkeypatch, CATALOGS_CONFIG)
    kept = "MODEL (name archive.old.kept, kind FULL);\nSELECT n FROM db.sqlmesh_example.numbers\n"
    (project / "models" / "kept.sql").write_text(kept)
    resource = SQLMeshResource(project_dir=str(project))
    context = resource.load_context()
    fqns = [context.get_model(name).fqn for name in ("db.sqlmesh_example.numbers", "archive.old.kept")]
    stream = project.parent / "events.jsonl"
    selection = RunSelection({fqn: ModelSelection(materialize=True) for fqn in fqns})

    execute_to_stream(resource, selection, MaterializeMode.RUN, set(), StreamWriter(stream))

    state = StreamReader(stream).read()
    assert state.end.error is None
    assert {fqn: outcome.status.value for fqn, outcome in state.outcomes.items()} == dict.fromkeys(
        fqns, "evaluated"
    )
    # Each catalog's file holds its model's rows: the second one's, attached from the project's folder.
    with duckdb.connect(str(project / "db.db"), read_only=True) as warehouse:
        warehouse.execute(f"ATTACH '{project / 'archive' / 'archive.db'}' AS archive (READ_ONLY)")
        assert warehouse.sql("SELECT n FROM db.sqlmesh_example.numbers").fetchall() == [(1,)]
        assert warehouse.sql("SELECT n FROM archive.old.kept").fetchall() == [(1,)]
    assert sorted(p.name for p in project.rglob("*.db")) == ["archive.db", "db.db", "state.db"]
    assert not list(Path.cwd().rglob("*.db"))  # nothing written where Dagster runs
    assert gateway_connection(str(project)).catalogs["archive"] == str(project / "archive" / "archive.db")
    # The team's CLI, where its users run it, finds the environment up to date.
    assert "No changes to plan" in sqlmesh_cli(project, "plan", "--no-prompts")


def test_the_cli_first_then_a_run_evaluates_nothing(tmp_path, monkeypatch):
    project = make_project(tmp_path, monkeypatch, INIT_CONFIG)
    sqlmesh_cli(project, "plan", "--auto-apply", "--no-prompts")
    resource = SQLMeshResource(project_dir=str(project))
    fqn = resource.load_context().get_model("db.sqlmesh_example.numbers").fqn
    stream = project.parent / "events.jsonl"

    execute_to_stream(
        resource,
        RunSelection({fqn: ModelSelection(materialize=True)}),
        MaterializeMode.RUN,
        set(),
        StreamWriter(stream),
    )

    state = StreamReader(stream).read()
    assert state.outcomes[fqn].status.value == "up_to_date"
    assert state.end.plan_applied is False
    assert [p.name for p in project.rglob("*.db")] == ["db.db"]
    assert gateway_connection(str(project)).database == str(project / "db.db")


def test_the_config_is_read_again_only_when_its_files_or_the_environment_change(tmp_path, monkeypatch):
    """Every step asks for the gateway's connections: read once, and again after any change."""
    project = make_project(tmp_path, monkeypatch, INIT_CONFIG)
    first = project_config(project)
    assert project_config(str(project)) is first

    (project / "config.yaml").write_text(INIT_CONFIG.replace("db.db", "renamed.db"))
    assert gateway_connection(str(project)).database == str(project / "renamed.db")

    env_config = INIT_CONFIG.replace("db.db", "{{ '{{' }} env_var('WAREHOUSE_FILE', 'db.db') {{ '}}' }}")
    (project / "config.yaml").write_text(env_config)
    assert gateway_connection(str(project)).database == str(project / "db.db")
    monkeypatch.setenv("WAREHOUSE_FILE", "from_the_environment.db")
    assert gateway_connection(str(project)).database == str(project / "from_the_environment.db")
