"""Real SQLMesh projects on DuckDB, and defs folders naming the component, for the component's tests.

The tests load real ``defs.yaml`` files through Dagster's sandbox for
component tests, as ``dg`` loads the project's own, and run real SQLMesh on
the DuckDB file of each project.
"""

from collections.abc import Iterator, Mapping
from pathlib import Path

import yaml
from dagster import Definitions
from dagster.components.testing import create_defs_folder_sandbox

from {{ cookiecutter.package_name }}.sqlmesh_integration import SQLMeshProjectComponent

COMPONENT = f"{SQLMeshProjectComponent.__module__.rsplit('.', 1)[0]}.{SQLMeshProjectComponent.__name__}"
"""The component's type, as a ``defs.yaml`` names it."""


def duckdb_project(root: Path, models: Mapping[str, str]) -> Path:
    """A SQLMesh project in ``root/shop`` on the DuckDB file ``root/shop.duckdb``: ``models`` by file name."""
    folder = root / "shop"
    (folder / "models").mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(
        "gateways:\n  local:\n    connection:\n      type: duckdb\n      database: "
        f"{root / 'shop.duckdb'}\nmodel_defaults:\n  dialect: duckdb\n  start: '2025-01-01'\n"
    )
    for name, sql in models.items():
        (folder / "models" / f"{name}.sql").write_text(sql)
    return folder


def load_components(
    project_dir: Path, components: Mapping[str, Mapping[str, object]]
) -> Iterator[Definitions]:
    """The definitions of a defs folder with one ``defs.yaml`` per component, all on ``project_dir``.

    ``components``: each component's name (its folder and its ``name``) and its other attributes.
    """
    with create_defs_folder_sandbox() as sandbox:
        for name, settings in components.items():
            (sandbox.defs_folder_path / name).mkdir()
            attributes = {"name": name, "project_dir": str(project_dir), **settings}
            (sandbox.defs_folder_path / name / "defs.yaml").write_text(
                yaml.safe_dump({"type": COMPONENT, "attributes": attributes})
            )
        with sandbox.build_all_defs() as defs:
            yield defs
