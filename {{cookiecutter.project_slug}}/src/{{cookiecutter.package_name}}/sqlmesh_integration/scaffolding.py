"""``dg scaffold defs <package>.sqlmesh_integration.SQLMeshProjectComponent <folder>``.

Writes the folder's ``defs.yaml`` for a SQLMesh project: the project's folder
and a ``name`` of its own (the defs folder's, by default), so a second project
scaffolded beside the first gets its own resources, jobs and schedules. With
``--init``, the SQLMesh project is created first, by ``sqlmesh init duckdb``
in its folder, as the team would from the terminal.
"""

import re
import subprocess
import sys
from pathlib import Path

import yaml
from dagster import Scaffolder, ScaffoldRequest
from dagster.components.component_scaffolding import scaffold_component
from pydantic import BaseModel, Field

_NOT_IN_NAME = re.compile(r"[^A-Za-z0-9_]+")
_SQLMESH_CONFIGS = ("config.yaml", "config.yml", "config.py")
_HEADER = """\
# A SQLMesh project as a Dagster component: every model an asset, audits as checks, one
# SQLMesh execution per run. `dg check defs` validates this file; every setting (gateway,
# environment, auto_plan, automation, partition_by_default, mode, keep_finished_runs,
# freshness_from_cron, translation) is described in sqlmesh_integration/component.py.
"""


class SQLMeshProjectScaffoldParams(BaseModel):
    """The options of ``dg scaffold defs ... SQLMeshProjectComponent <folder>``."""

    project_dir: str = Field(
        default="sqlmesh_project",
        description="The SQLMesh project's folder, relative to the project root (or absolute).",
    )
    name: str | None = Field(
        default=None,
        description="The project's name in the code location (its resources, jobs, schedules); "
        "default: the defs folder's name.",
    )
    init: bool = Field(
        default=False,
        description="Create the SQLMesh project first, with `sqlmesh init duckdb` in project_dir.",
    )


class SQLMeshProjectScaffolder(Scaffolder[SQLMeshProjectScaffoldParams]):
    """Writes a ``defs.yaml`` that ``dg check defs`` accepts, and with ``init``, the SQLMesh project."""

    @classmethod
    def get_scaffold_params(cls) -> type[SQLMeshProjectScaffoldParams]:
        return SQLMeshProjectScaffoldParams

    def scaffold(self, request: ScaffoldRequest[SQLMeshProjectScaffoldParams]) -> None:
        params = request.params
        if params.init:
            init_sqlmesh_project(_under_root(request.project_root, params.project_dir))
        attributes = {
            "name": params.name or project_name(request.target_path.name),
            "project_dir": params.project_dir,
        }
        if request.scaffold_format == "yaml" and not request.append:
            document = {"type": request.type_name, "attributes": attributes}
            text = _HEADER + yaml.safe_dump(document, sort_keys=False)
            (request.target_path / "defs.yaml").write_text(text)
        else:  # component.py, or a document appended to an existing defs.yaml: Dagster's own layout
            scaffold_component(request, attributes)


def project_name(folder_name: str) -> str:
    """A valid project name from a defs folder's name: ``finance-eu`` becomes ``finance_eu``."""
    name = _NOT_IN_NAME.sub("_", folder_name).strip("_")
    return name if name[:1].isalpha() else f"sqlmesh_{name}".rstrip("_")


def init_sqlmesh_project(folder: Path) -> None:
    """``sqlmesh init duckdb`` in ``folder`` (made if missing); refused where a project already is.

    The CLI of this environment, so the project is the one the team's
    ``make sqlmesh`` sees; its ``database: db.db`` is inside the folder
    (relative paths are read from the SQLMesh project, ADR 0010).
    """
    existing = [name for name in _SQLMESH_CONFIGS if (folder / name).exists()]
    if existing:
        raise FileExistsError(
            f"{folder / existing[0]} exists: {folder} is a SQLMesh project already; drop --init."
        )
    folder.mkdir(parents=True, exist_ok=True)
    sqlmesh = Path(sys.executable).parent / "sqlmesh"
    result = subprocess.run(
        [str(sqlmesh), "init", "duckdb"], cwd=folder, capture_output=True, text=True, stdin=subprocess.DEVNULL
    )
    if result.returncode != 0:
        raise RuntimeError(f"sqlmesh init duckdb failed in {folder}:\n{result.stdout}{result.stderr}")


def _under_root(project_root: Path | None, project_dir: str) -> Path:
    return (project_root or Path.cwd()) / project_dir
