"""The SQLMesh component: two projects, two ``defs.yaml``, their own names, one execution each per run.

The components are loaded from a real defs folder (Dagster's sandbox for
component tests), as ``dg`` and the code location load ``defs/``.
"""

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
import yaml
from dagster import DagsterInstance, Definitions
from dagster.components.testing import create_defs_folder_sandbox
from small_projects import write_duckdb_config

from {{ cookiecutter.package_name }}.sqlmesh_integration import (
    MaterializeMode,
    SQLMeshProjectComponent,
    SQLMeshResource,
    sqlmesh_assets,
    sqlmesh_environment_jobs,
)

COMPONENT = f"{SQLMeshProjectComponent.__module__.rsplit('.', 1)[0]}.{SQLMeshProjectComponent.__name__}"

PROJECTS = {
    "sales": {
        "orders": "SELECT 1 AS id UNION ALL SELECT 2",
        "order_count": "SELECT COUNT(*) AS n FROM raw.orders",
    },
    "finance": {"ledger": "SELECT 10 AS amount", "balance": "SELECT SUM(amount) AS total FROM raw.ledger"},
}
SCHEMAS = {"orders": "raw", "ledger": "raw", "order_count": "marts", "balance": "marts"}


def project(root: Path, name: str) -> SQLMeshResource:
    """A SQLMesh project on its own DuckDB file, named ``name`` in the code location."""
    folder = root / name
    (folder / "models").mkdir(parents=True)
    write_duckdb_config(folder, root / f"{name}.duckdb", start="2025-01-01")
    for model, query in PROJECTS[name].items():
        (folder / "models" / f"{model}.sql").write_text(
            f"MODEL (name {SCHEMAS[model]}.{model}, kind FULL);\n{query}\n"
        )
    return SQLMeshResource(name=name, project_dir=str(folder))


def load(components: dict[str, dict]) -> Iterator[Definitions]:
    """The definitions of a defs folder holding one ``defs.yaml`` per entry of ``components``."""
    with create_defs_folder_sandbox() as sandbox:
        for folder, attributes in components.items():
            (sandbox.defs_folder_path / folder).mkdir()
            (sandbox.defs_folder_path / folder / "defs.yaml").write_text(
                yaml.safe_dump({"type": COMPONENT, "attributes": attributes})
            )
        with sandbox.build_all_defs() as defs:
            yield defs


@pytest.fixture
def definitions(tmp_path: Path) -> Iterator[Definitions]:
    folders = {name: project(tmp_path, name).project_dir for name in PROJECTS}
    yield from load({name: {"name": name, "project_dir": folder} for name, folder in folders.items()})


def test_each_project_has_its_own_resources_jobs_and_schedule(definitions):
    repository = definitions.get_repository_def()

    schedules = {schedule.name for schedule in repository.schedule_defs}
    assert schedules == {"sales_run_schedule", "finance_run_schedule"}
    job_names = {job.name for job in repository.get_all_jobs()}
    assert {"sales_plan_report", "sales_promote", "finance_plan_report", "finance_promote"} <= job_names
    sales_job = definitions.resolve_job_def("sales_run")
    assert {key.to_user_string() for key in sales_job.asset_layer.selected_asset_keys} == {
        "raw/orders",
        "marts/order_count",
    }


def test_one_run_of_both_projects_is_one_execution_of_each(definitions, tmp_path):
    instance = DagsterInstance.ephemeral()
    result = definitions.resolve_implicit_global_asset_job_def().execute_in_process(instance=instance)

    assert result.success
    messages = [record.user_message for record in instance.all_logs(result.run_id)]
    started = [message for message in messages if message.startswith("SQLMesh execution for run")]
    assert len(started) == 2, started
    for name, query, expected in [
        ("sales", "SELECT n FROM marts.order_count", 2),
        ("finance", "SELECT total FROM marts.balance", 10),
    ]:
        with duckdb.connect(str(tmp_path / f"{name}.duckdb"), read_only=True) as connection:
            assert connection.sql(query).fetchone() == (expected,)


def test_the_jobs_of_one_project_take_its_assets_only(tmp_path):
    sales, finance = (sqlmesh_assets(project(tmp_path, name)) for name in PROJECTS)

    with pytest.raises(ValueError, match=r"SQLMesh projects \['finance', 'sales'\]: pass the assets of one"):
        sqlmesh_environment_jobs([*sales, *finance])


def test_the_component_defines_what_the_factory_does(tmp_path):
    sqlmesh = project(tmp_path, "sales")
    (defs,) = load({"sales": {"name": "sales", "project_dir": sqlmesh.project_dir}})
    graph = defs.resolve_asset_graph()

    expected = {key for asset in sqlmesh_assets(sqlmesh) for key in asset.keys}
    assert graph.materializable_asset_keys == expected
    assert set(defs.resources) == {"sales", "sales_results"}


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ({"automation": "cron"}, "Input should be 'schedule' or 'conditions'"),
        ({"name": "my-project"}, "SQLMesh project name 'my-project' is not valid"),
        ({"environment": "dev-1"}, "SQLMesh environment name 'dev-1' is not valid"),
        ({"project_dir": "nowhere"}, "defs.yaml: project_dir 'nowhere' is not a folder"),
        ({"mode": "rebuild"}, "Input should be 'run' or 'restate'"),
        ({"keep_finished_runs": -1}, "Input should be greater than or equal to 0"),
    ],
)
def test_a_bad_setting_fails_naming_it(tmp_path, attributes, message):
    settings = {"name": "sales", "project_dir": project(tmp_path, "sales").project_dir, **attributes}

    with pytest.raises(Exception, match=r"sales[\s\S]*defs\.yaml") as failure:  # the file, then the cause
        list(load({"sales": settings}))
    causes = []
    error: BaseException | None = failure.value
    while error is not None:
        causes.append(str(error))
        error = error.__cause__
    assert any(message in cause for cause in causes), causes


def test_the_run_settings_come_from_defs_yaml(tmp_path):
    """``mode: restate`` in the file: a second run re-evaluates what the first built."""
    sqlmesh = project(tmp_path, "sales")
    (defs,) = load({"sales": {"name": "sales", "project_dir": sqlmesh.project_dir, "mode": "restate"}})
    results = defs.resources["sales_results"]
    assert (results.mode, results.keep_finished_runs) == ("restate", 20)
    assert {mode.value for mode in MaterializeMode} == {"run", "restate"}  # the component offers each
    (kept,) = load({"sales": {"name": "sales", "project_dir": sqlmesh.project_dir, "keep_finished_runs": 3}})
    assert kept.resources["sales_results"].keep_finished_runs == 3

    job = defs.resolve_implicit_global_asset_job_def()
    instance = DagsterInstance.ephemeral()
    first = job.execute_in_process(instance=instance)
    again = job.execute_in_process(instance=instance)

    statuses = {
        event.asset_key.path[-1]: event.materialization.metadata["sqlmesh/status"].value
        for event in again.get_asset_materialization_events()
    }
    assert first.success and again.success
    assert statuses == {"orders": "evaluated in this run", "order_count": "evaluated in this run"}
