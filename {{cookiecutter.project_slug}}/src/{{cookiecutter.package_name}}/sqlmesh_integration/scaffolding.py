"""``dg scaffold defs <package>.sqlmesh_integration.SQLMeshProjectComponent <folder>``.

Writes the folder's ``defs.yaml`` for a SQLMesh project: the project's folder
and a ``name`` of its own (``--name``, or the defs folder's made a valid name),
so a second project scaffolded beside the first gets its own resources, jobs
and schedules. The SQLMesh project's folder, relative to the project root:

- ``--project-dir``, when given;
- with ``--init true`` and no ``--project-dir``, ``<name>_sqlmesh_project``
  (``defs/finance`` creates ``finance_sqlmesh_project/``, see
  :func:`default_project_dir`), created by ``sqlmesh init duckdb`` in it, as
  the team would from the terminal;
- without either, ``sqlmesh_project``, the project the code location already
  has: a second component over it takes its share of the models with
  ``select`` and ``exclude``.

What cannot work is refused before anything is written: ``--init`` where a
SQLMesh project already is, a folder without one to point at, a name that
cannot key a resource. The refusal is a :class:`ScaffoldRefused`, which ``dg``
prints as one ``Error:`` line naming the folder and what to do.
"""

import re
import subprocess
import sys
from pathlib import Path

import click
import yaml
from dagster import Scaffolder, ScaffoldRequest
from dagster.components.component_scaffolding import scaffold_component
from pydantic import BaseModel, Field

from .project.resource import check_project_name

_NOT_IN_NAME = re.compile(r"[^A-Za-z0-9_]+")
_SQLMESH_CONFIGS = ("config.yaml", "config.yml", "config.py")
EXISTING_PROJECT_DIR = "sqlmesh_project"
"""The SQLMesh project every bake has: what a component scaffolded without ``--init`` reads."""
NEW_PROJECT_SUFFIX = "_sqlmesh_project"
"""What ends the folder of a project ``--init`` creates, after the component's name."""
_HEADER = """\
# A SQLMesh project as a Dagster component: every model an asset, audits as checks, one
# SQLMesh execution per run. `dg check defs` validates this file; every setting (gateway,
# environment, auto_plan, automation, partition_by_default, mode, keep_finished_runs, run_store,
# freshness_from_cron, translation) is described in sqlmesh_integration/component.py.
# project_dir is relative to the project root (where pyproject.toml is). Where another component
# reads the same SQLMesh project, give each a `select` (or `exclude`) so no model is the asset of both.
"""


class ScaffoldRefused(click.ClickException):
    """A scaffold that cannot work, said in one line.

    ``dg scaffold`` shows only pydantic's validation errors of a scaffolder
    cleanly; anything else leaves as a Python traceback, except a
    :class:`click.ClickException`, which click prints as ``Error: <message>``
    and exits 1.
    """


class SQLMeshProjectScaffoldParams(BaseModel):
    """The options of ``dg scaffold defs ... SQLMeshProjectComponent <folder>``."""

    project_dir: str | None = Field(
        default=None,
        description="The SQLMesh project's folder, relative to the project root (or absolute); "
        f"default: {EXISTING_PROJECT_DIR}, or with --init, a new <name>{NEW_PROJECT_SUFFIX}.",
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
        name = params.name or project_name(request.target_path.name)
        project_dir = params.project_dir or default_project_dir(name, params.init)
        folder = _under_root(request.project_root, project_dir)
        try:
            check_scaffold(name, project_dir, folder, params.init)
        except ScaffoldRefused:
            if not request.append:
                _remove_if_empty(request.target_path)
            raise
        if params.init:
            init_sqlmesh_project(folder)
        attributes = {"name": name, "project_dir": project_dir}
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


def default_project_dir(name: str, init: bool) -> str:
    """The SQLMesh project's folder when ``--project-dir`` is not given.

    Without ``init``, the bake's own ``sqlmesh_project``: the one project there
    is to read. With it, ``<name>_sqlmesh_project`` at the project root, a
    folder of the new project's own, because there it sits beside
    ``sqlmesh_project``, where the team looks for SQLMesh projects; it stays out
    of ``src/``, the package Dagster imports, which is no place for models, a
    DuckDB file (``sqlmesh init``'s ``db.db`` is in the project's folder) or
    SQLMesh's cache; and its name starts with the word that names the project's
    resources and jobs (``finance``, ``finance_run``) and ends with what it holds.
    """
    return f"{name}{NEW_PROJECT_SUFFIX}" if init else EXISTING_PROJECT_DIR


def check_scaffold(name: str, project_dir: str, folder: Path, init: bool) -> None:
    """Refuses, before anything is written, what would not load or would overwrite a project.

    ``project_dir`` is the folder as the user gave it (or its default), named
    in the message; ``folder`` is where it is.
    """
    try:
        check_project_name(name)
    except ValueError:
        raise ScaffoldRefused(
            f"--name {name!r} cannot name a SQLMesh project (its resources and jobs): start with a "
            "letter, then only letters, digits and underscores, for example --name finance."
        ) from None
    config = sqlmesh_config(folder)
    if init and config is not None:
        raise ScaffoldRefused(
            f"{project_dir} is a SQLMesh project already ({config.name}): leave out --init to point "
            f"at it (with --project-dir {project_dir}), or give --project-dir a new folder."
        )
    if not init and config is None:
        raise ScaffoldRefused(
            f"{project_dir} holds no SQLMesh project (no {', '.join(_SQLMESH_CONFIGS)}): give "
            "--project-dir your SQLMesh project's folder, or add --init true to create one."
        )


def sqlmesh_config(folder: Path) -> Path | None:
    """The folder's SQLMesh config file, or None: what makes a folder a SQLMesh project."""
    return next((folder / name for name in _SQLMESH_CONFIGS if (folder / name).is_file()), None)


def init_sqlmesh_project(folder: Path) -> None:
    """``sqlmesh init duckdb`` in ``folder`` (made if missing); refused where a project already is.

    The CLI of this environment, so the project is the one the team's
    ``make sqlmesh`` sees; its ``database: db.db`` is inside the folder
    (relative paths are read from the SQLMesh project, ADR 0010).
    """
    config = sqlmesh_config(folder)
    if config is not None:
        raise ScaffoldRefused(f"{config} exists: {folder} is a SQLMesh project already; drop --init.")
    folder.mkdir(parents=True, exist_ok=True)
    sqlmesh = Path(sys.executable).parent / "sqlmesh"
    result = subprocess.run(
        [str(sqlmesh), "init", "duckdb"], cwd=folder, capture_output=True, text=True, stdin=subprocess.DEVNULL
    )
    if result.returncode != 0:
        raise ScaffoldRefused(f"sqlmesh init duckdb failed in {folder}:\n{result.stdout}{result.stderr}")


def _under_root(project_root: Path | None, project_dir: str) -> Path:
    """Where ``project_dir`` is: relative paths are the project root's, as the component reads them."""
    return (project_root or Path.cwd()) / project_dir


def _remove_if_empty(defs_folder: Path) -> None:
    """Removes the defs folder ``dg`` made just before a refusal, so the corrected command can run.

    ``dg scaffold`` makes the folder before calling the scaffolder and refuses
    a folder that exists; one holding anything is left alone.
    """
    if defs_folder.is_dir() and not any(defs_folder.iterdir()):
        defs_folder.rmdir()
