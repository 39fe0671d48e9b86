"""A team's own SQLMesh project in a baked project: one warehouse and one state with its `sqlmesh` CLI.

The project is the one `sqlmesh init duckdb` creates (its config names the
DuckDB file relative to where the CLI runs: ``database: db.db``). Dagster
runs from the baked project's root, the CLI inside the SQLMesh folder, as
its users run it.
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers.project import Scratch, bake_around, probe, run, run_own_project_tests

pytestmark = pytest.mark.e2e


@pytest.fixture
def scratch(starter_project, tmp_path) -> Scratch:
    scratch = starter_project.scratch(tmp_path)
    scratch.sqlmesh_project = tmp_path / "own_project"
    scratch.sqlmesh_project.mkdir()
    run(
        [str(starter_project.root / ".venv" / "bin" / "sqlmesh"), "init", "duckdb"],
        scratch.sqlmesh_project,
        scratch.env(),
    )
    return scratch


def sqlmesh_cli(scratch: Scratch, *arguments: str) -> subprocess.CompletedProcess:
    """The team's CLI, inside its project folder."""
    command = [str(scratch.project.root / ".venv" / "bin" / "sqlmesh"), *arguments]
    return run(
        command, scratch.sqlmesh_project, {**scratch.env(), "SQLMESH__DISABLE_ANONYMIZED_ANALYTICS": "1"}
    )


def test_a_dagster_run_and_the_cli_in_the_project_folder_share_one_warehouse_and_state(scratch):
    run(["make", "run"], scratch.project.root, scratch.env())

    result = probe(scratch.project.root, scratch.project.package, scratch.env(), "--summarize", "latest")
    assert result["status"] == "SUCCESS", result
    assert result["executions"] == 1
    assert {"sqlmesh_example/full_model", "sqlmesh_example/incremental_model"} <= set(result["materialized"])
    assert (scratch.sqlmesh_project / "db.db").exists()
    assert not (scratch.project.root / "db.db").exists()
    # The README's command for the team's CLI runs it inside the SQLMesh folder.
    cli = run(["make", "sqlmesh", "ARGS=plan --no-prompts"], scratch.project.root, scratch.env())
    assert "No changes to plan" in cli.stdout, cli.stdout
    # And the other way round: what the CLI evaluates, a Dagster run finds done.
    model = scratch.sqlmesh_project / "models" / "full_model.sql"
    model.write_text(model.read_text().replace("COUNT(DISTINCT id) AS", "COUNT(DISTINCT id) + 0 AS"))
    sqlmesh_cli(scratch, "plan", "--auto-apply", "--no-prompts")
    again = scratch.materialize(select=["sqlmesh_example/full_model"])
    assert again["status"] == "SUCCESS", again
    assert again["evaluated"] == {}
    assert os.listdir(scratch.sqlmesh_project).count("db.db") == 1


def test_a_bake_around_a_project_from_sqlmesh_init_passes_make_test_and_shares_the_cli_state(
    bake, starter_project, tmp_path
):
    """The cookiecutter answer for an existing project: copied in as it is, the sample left out."""
    own = tmp_path / "team_project"
    own.mkdir()
    run([str(starter_project.root / ".venv" / "bin" / "sqlmesh"), "init", "duckdb"], own, dict(os.environ))
    root, env = bake_around(bake, own)

    run_own_project_tests(root, env)
    run(["make", "run"], root, env)
    cli = run(["make", "sqlmesh", "ARGS=plan --no-prompts"], root, env)

    assert "No changes to plan" in cli.stdout, cli.stdout
    assert (root / "sqlmesh_project" / "db.db").exists() and not (root / "db.db").exists()
    assert not (own / "db.db").exists()  # the team's folder was copied, never written


TWO_CATALOGS = Path(__file__).parent / "sqlmesh_projects" / "two_catalogs"


def test_a_bake_around_a_config_py_with_two_catalogs_and_a_state_file_shares_every_file_with_the_cli(
    bake, tmp_path
):
    """Relative paths of a config.py (two catalogs, state apart) mean the CLI's files, both ways."""
    own = tmp_path / "team_project"
    shutil.copytree(TWO_CATALOGS, own)
    root, env = bake_around(bake, own)
    folder = root / "sqlmesh_project"

    run_own_project_tests(root, env)
    run(["make", "run"], root, env)
    result = probe(root, "shop_analytics", env, "--summarize", "latest")

    assert result["status"] == "SUCCESS", result
    assert result["executions"] == 1
    assert set(result["materialized"]) == {
        "landing/landing/raw_orders",
        "sales/daily_orders",
        "sales/order_totals",
    }
    files = {"warehouse.duckdb", "landing.duckdb", "state.duckdb"}
    assert files <= set(os.listdir(folder)), os.listdir(folder)
    assert not files & set(os.listdir(root)), os.listdir(root)
    # Dagster's run, then the team's CLI in its folder: nothing left to do.
    cli = run(["make", "sqlmesh", "ARGS=plan --no-prompts"], root, env)
    assert "No changes to plan" in cli.stdout, cli.stdout
    # The CLI's change, then Dagster's run: the CLI built the new version, Dagster evaluates nothing.
    model = folder / "models" / "order_totals.sql"
    model.write_text(model.read_text().replace("SUM(orders) AS orders", "SUM(orders) + 0 AS orders"))
    run(["make", "sqlmesh", "ARGS=plan --auto-apply --no-prompts"], root, env)
    run(["make", "run", "SELECT=sales/order_totals"], root, env)
    again = probe(root, "shop_analytics", env, "--summarize", "latest")
    assert again["status"] == "SUCCESS", again
    assert again["evaluated"] == {}, again
    assert list(again["materialized"]) == ["sales/order_totals"], again


def test_where_sqlmesh_is_beside_cookiecutter_the_bake_refuses_what_sqlmesh_refuses(
    starter_project, hooks, tmp_path
):
    """The pre-generation hook's load check, run with an interpreter that has SQLMesh."""
    check = hooks["pre_gen_project"].sqlmesh_load_error
    python = str(starter_project.python)
    own = tmp_path / "team_project"
    shutil.copytree(TWO_CATALOGS, own)

    assert check(own, python) is None
    (own / "models" / "broken.sql").write_text("MODEL (name sales.broken, kind FULL);\nSELECT FROM WHERE\n")
    error = check(own, python)

    assert error is not None
    assert error.startswith(f"SQLMesh cannot load {own}: ConfigError: Failed to load model from file ")
    assert f"'{own}/models/broken.sql'" in error, error
    assert not (own / ".cache").exists() and not (own / "logs").exists()  # a copy was loaded
