"""The answer naming an existing SQLMesh project: bad paths fail the bake cleanly; a good one is copied as it is."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.baking import answers_of, left_behind, run_cookiecutter


def sqlmesh_project(root: Path) -> Path:
    """A minimal SQLMesh project as a team has one: a config, models, and files of its own."""
    project = root / "team_project"
    (project / "models").mkdir(parents=True)
    (project / "config.yaml").write_text(
        "gateways:\n  local:\n    connection:\n      type: duckdb\n      database: db.db\n"
    )
    (project / "models" / "numbers.sql").write_text(
        "MODEL (name team.numbers, kind FULL);\nSELECT 1 AS n -- {{ kept }}\n"
    )
    (project / "db.db").write_bytes(b"the team's warehouse")
    (project / ".cache").mkdir()
    return project


def bake(tmp_path: Path, env: dict[str, str], value: str):
    args = ["--no-input", str(Path(__file__).resolve().parents[1]), "--output-dir", str(tmp_path / "out")]
    return run_cookiecutter([*args, f"sqlmesh_project_path={value}"], tmp_path, env)


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda root: root / "missing", "is not a folder"),
        (
            lambda root: (root / "empty").mkdir() or root / "empty",
            "has no config.yaml, config.yml, config.py",
        ),
        (
            lambda root: (
                (root / "no_models").mkdir()
                or (root / "no_models" / "config.py").touch()
                or root / "no_models"
            ),
            "has no models/ folder",
        ),
    ],
    ids=["missing", "no-config", "no-models"],
)
def test_a_path_that_is_no_sqlmesh_project_fails_naming_it_and_writes_nothing(
    tmp_path, cli_env, make, problem
):
    path = make(tmp_path)

    result = bake(tmp_path, cli_env, str(path))

    assert result.returncode != 0
    message = result.stderr + result.stdout
    assert f"ERROR: sqlmesh_project_path '{path}' is not valid: {path} {problem}" in message
    assert left_behind(tmp_path / "out") == []


@pytest.mark.parametrize(
    ("file", "text", "problem"),
    [
        ("config.yaml", "gateways:\n  local: [unclosed\n", "config.yaml is not valid YAML (while parsing"),
        (
            "config.py",
            "from sqlmesh.core.config import Config\nconfig = Config(\n",
            "config.py line 2 is not valid Python",
        ),
        ("models/total.py", "def execute(context:\n    pass\n", "total.py line 1 is not valid Python"),
    ],
    ids=["yaml", "config-py", "python-model"],
)
def test_a_project_whose_files_do_not_parse_fails_naming_the_file_and_line_and_writes_nothing(
    tmp_path, cli_env, file, text, problem
):
    own = sqlmesh_project(tmp_path)
    if file == "config.py":
        (own / "config.yaml").unlink()
    (own / file).write_text(text)

    result = bake(tmp_path, cli_env, str(own))

    assert result.returncode != 0
    message = result.stderr + result.stdout
    assert f"ERROR: sqlmesh_project_path '{own}' is not valid: {own}/" in message
    assert problem in message, message
    assert "fix it and bake again" in message
    assert left_behind(tmp_path / "out") == []


def test_the_project_is_copied_as_it_is_without_its_data_and_the_sample_is_left_out(tmp_path, cli_env):
    own = sqlmesh_project(tmp_path)

    result = bake(tmp_path, cli_env, str(own))

    assert result.returncode == 0, result.stderr
    # The template's own tools have no SQLMesh: the bake says it checked syntax only.
    assert "checked for syntax only; `make test` in the new project loads and runs it" in result.stdout
    project = tmp_path / "out" / "shop-analytics"
    copied = {
        path.relative_to(project / "sqlmesh_project").as_posix()
        for path in (project / "sqlmesh_project").rglob("*")
    }
    assert copied == {"config.yaml", "models", "models/numbers.sql"}  # no warehouse file, no cache
    # Copied, not rendered: the team's own Jinja stays as written.
    assert (project / "sqlmesh_project" / "models" / "numbers.sql").read_text().endswith("-- {{ kept }}\n")
    assert not (project / "src" / "shop_analytics" / "ingestion.py").exists()
    assert not (project / "docs" / "tutorial.md").exists()
    assert "revenue_targets" not in (project / "src" / "shop_analytics" / "definitions.py").read_text()
    assert answers_of(project)["sqlmesh_project_path"] == str(own)


def test_a_relative_path_is_read_from_the_output_folder(tmp_path, cli_env):
    sqlmesh_project(tmp_path / "out")

    result = bake(tmp_path, cli_env, "team_project")

    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "shop-analytics" / "sqlmesh_project" / "models" / "numbers.sql").exists()
