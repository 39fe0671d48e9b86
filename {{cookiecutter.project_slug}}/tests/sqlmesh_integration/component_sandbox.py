"""Real SQLMesh projects on DuckDB, and defs folders naming the component, for the component's tests.

The tests load real ``defs.yaml`` files through Dagster's sandbox for
component tests, as ``dg`` loads the project's own, and run real SQLMesh on
the DuckDB file of each project. A run under Dagster's multiprocess executor
loads the sandbox's definitions in every step's process, from a module the
sandbox holds (:func:`asset_job_for_processes`).
"""

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import yaml
from dagster import Definitions
from dagster._core.definitions.assets.job.asset_job import IMPLICIT_ASSET_JOB_NAME
from dagster._core.definitions.reconstruct import ReconstructableJob, ReconstructableRepository
from dagster.components.testing import DefsFolderSandbox, create_defs_folder_sandbox
from small_projects import write_duckdb_config

from {{ cookiecutter.package_name }}.sqlmesh_integration import SQLMeshProjectComponent

COMPONENT = f"{SQLMeshProjectComponent.__module__.rsplit('.', 1)[0]}.{SQLMeshProjectComponent.__name__}"
"""The component's type, as a ``defs.yaml`` names it."""


def duckdb_project(root: Path, models: Mapping[str, str]) -> Path:
    """A SQLMesh project in ``root/shop`` on the DuckDB file ``root/shop.duckdb``: ``models`` by file name."""
    folder = root / "shop"
    (folder / "models").mkdir(parents=True, exist_ok=True)
    write_duckdb_config(folder, root / "shop.duckdb", start="2025-01-01")
    for name, sql in models.items():
        (folder / "models" / f"{name}.sql").write_text(sql)
    return folder


@contextmanager
def components_sandbox(
    project_dir: Path, components: Mapping[str, Mapping[str, object]]
) -> Iterator[DefsFolderSandbox]:
    """A defs folder with one ``defs.yaml`` per component, all on ``project_dir``.

    ``components``: each component's name (its folder and its ``name``) and its other attributes.
    """
    with create_defs_folder_sandbox() as sandbox:
        for name, settings in components.items():
            (sandbox.defs_folder_path / name).mkdir()
            attributes = {"name": name, "project_dir": str(project_dir), **settings}
            (sandbox.defs_folder_path / name / "defs.yaml").write_text(
                yaml.safe_dump({"type": COMPONENT, "attributes": attributes})
            )
        yield sandbox


def load_components(
    project_dir: Path, components: Mapping[str, Mapping[str, object]]
) -> Iterator[Definitions]:
    """The definitions of a defs folder with one ``defs.yaml`` per component, all on ``project_dir``."""
    with components_sandbox(project_dir, components) as sandbox, sandbox.build_all_defs() as defs:
        yield defs


_LOADER = """\
from pathlib import Path

from dagster import load_from_defs_folder

defs = load_from_defs_folder(path_within_project=Path(__file__).parent)
"""


def asset_job_for_processes(sandbox: DefsFolderSandbox) -> ReconstructableJob:
    """The job of every asset of the sandbox, as the multiprocess executor's step processes load it.

    Each step's process imports a module of the sandbox that loads its defs
    folder, as ``dagster`` loads a project's ``definitions.py``.
    """
    loader = sandbox.defs_folder_path.parent / "definitions.py"
    loader.write_text(_LOADER)
    repository = ReconstructableRepository.for_file(
        str(loader), "defs", working_directory=str(sandbox.project_root / "src")
    )
    return ReconstructableJob(repository, IMPLICIT_ASSET_JOB_NAME)
