"""A SQLMesh project without any model to build still makes loadable definitions."""

from pathlib import Path

from dagster import Definitions
from small_projects import write_duckdb_config

from {{ cookiecutter.package_name }}.sqlmesh_integration import (
    SQLMeshResource,
    SQLMeshRunResults,
    sqlmesh_assets,
    sqlmesh_schedules,
)


def test_a_project_with_only_sources_loads_with_no_asset_and_no_schedule(tmp_path: Path):
    project = tmp_path / "sqlmesh_project"
    (project / "models").mkdir(parents=True)
    write_duckdb_config(project, tmp_path / "warehouse.duckdb")
    # A source SQLMesh reads but does not build, and an embedded model: neither is an asset.
    (project / "external_models.yaml").write_text("- name: landing.events\n  columns:\n    id: int\n")
    (project / "models" / "inlined.sql").write_text(
        "MODEL (name staging.inlined, kind EMBEDDED);\nSELECT id FROM landing.events\n"
    )
    sqlmesh = SQLMeshResource(project_dir=str(project))

    assets = sqlmesh_assets(sqlmesh)
    schedules = sqlmesh_schedules(sqlmesh, assets)

    assert assets == [] and schedules == []
    Definitions.validate_loadable(
        Definitions(
            assets=assets,
            schedules=schedules,
            resources={"sqlmesh": sqlmesh, "sqlmesh_results": SQLMeshRunResults()},
        )
    )
