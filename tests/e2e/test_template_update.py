"""A project baked with cruft takes the template's newer version with `make update`.

The old template is the committed HEAD of this repository, cloned; the new one is a commit
the test makes on the clone (a new integration version with its changelog entry, a changed
integration module, Makefile, defs.yaml and sample model). The team's project is committed
in git with a team's edits, as `make update` requires a clean tree.
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers.environments import edit
from helpers.project import TEMPLATE_BIN, install, run_own_project_tests
from helpers.template_repo import INTEGRATION_IN_TEMPLATE, TemplateClone, commit_all, git

pytestmark = pytest.mark.e2e

PROJECTS = Path(__file__).parent / "sqlmesh_projects"
PACKAGE = "shop_analytics"
INTEGRATION = Path("src") / PACKAGE / "sqlmesh_integration"
DEFS_YAML = Path("src") / PACKAGE / "defs" / "sqlmesh" / "defs.yaml"
TEAM_MODEL = Path("sqlmesh_project/models/marts/customers.sql")
TEAM_SEED = Path("sqlmesh_project/seeds/customers.csv")
TEMPLATE_MODEL = Path("sqlmesh_project/models/staging/stg_orders.sql")
NEW_CUSTOMER = "21,Team,Member,team.member@example.com,2024-03-01\n"


def project_env() -> dict[str, str]:
    """A shell in the project: the template's tools (uv) on PATH, no make variables of an outer make."""
    env = {**os.environ, "PATH": f"{TEMPLATE_BIN}{os.pathsep}{os.environ['PATH']}"}
    return {name: value for name, value in env.items() if name not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}


def make_update(project: Path, ref: str) -> subprocess.CompletedProcess:
    """``make update TEMPLATE_REF=ref`` in ``project``, whatever its exit code."""
    return subprocess.run(
        ["make", "update", f"TEMPLATE_REF={ref}"],
        cwd=project,
        env=project_env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


def files_of(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` but caches, by its path under it."""
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }


def append(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8") as file:
        file.write(text)


def new_integration_version(template: TemplateClone, version: str, docstring: str) -> None:
    """What a release of the integration changes in the template: its version, changelog and a module."""
    init = template.integration_file("__init__.py")
    current = next(line for line in init.read_text().splitlines() if line.startswith("__version__ = "))
    edit(init, current, f'__version__ = "{version}"')
    changelog = template.integration_file("CHANGELOG.md")
    edit(changelog, "\n## ", f"\n## {version} (2026-12-07)\n\nFixed: pruning.py's note.\n\n## ")
    pruning = template.integration_file("runs/pruning.py")
    first_line = pruning.read_text().splitlines()[0]
    edit(pruning, first_line, f'"""{docstring}"""')


def test_an_old_bake_takes_the_new_template_and_keeps_the_teams_edits_then_a_clash_is_a_named_conflict(
    tmp_path,
):
    template = TemplateClone.of_head(tmp_path / "template")
    project = template.cruft_create(tmp_path / "bakes", sample_pipeline="starter")
    install(project)

    # The team's edits: a model, a seed, a component setting, its own .env.
    append(project / TEAM_MODEL, "-- Reviewed by the analytics team.\n")
    append(project / TEAM_SEED, NEW_CUSTOMER)
    edit(project / DEFS_YAML, "keep_finished_runs: 20", "keep_finished_runs: 30")
    (project / ".env").write_text("SQLMESH_LOCK_TIMEOUT_SECONDS=600\n", encoding="utf-8")
    commit_all(project, "The team's edits")

    # The template's next version.
    new_integration_version(template, "9.0.1", "Deleting old runs' result folders, newest first kept.")
    edit(
        template.path / "{{cookiecutter.project_slug}}" / "Makefile",
        "# Every command a user needs.",
        "# Every command a user needs (template 9.0.1).",
    )
    append(template.path / "{{cookiecutter.project_slug}}" / TEMPLATE_MODEL, "-- changed in the template\n")
    defs_template = (
        template.path
        / "{{cookiecutter.project_slug}}"
        / "src/{{cookiecutter.package_name}}/defs/sqlmesh/defs.yaml"
    )
    edit(defs_template, "# one SQLMesh execution per run.", "# one SQLMesh execution per run (9.0.1).")
    new = template.commit("Integration 9.0.1")

    updated = make_update(project, new)
    assert updated.returncode == 0, updated.stdout + updated.stderr
    # The integration is the new template's, file for file (it is copied without rendering).
    assert files_of(project / INTEGRATION) == files_of(template.path / INTEGRATION_IN_TEMPLATE)
    assert "(template 9.0.1)" in (project / "Makefile").read_text()
    defs = (project / DEFS_YAML).read_text()
    assert "keep_finished_runs: 30" in defs and "per run (9.0.1)." in defs  # both changes, merged
    # What the update never touches: the SQLMesh project (the team's edits stay, the template's
    # change to a sample model does not come) and .env.
    assert (project / TEAM_MODEL).read_text().endswith("-- Reviewed by the analytics team.\n")
    assert (project / TEAM_SEED).read_text().endswith(NEW_CUSTOMER)
    assert "changed in the template" not in (project / TEMPLATE_MODEL).read_text()
    assert (project / ".env").read_text() == "SQLMESH_LOCK_TIMEOUT_SECONDS=600\n"
    assert f'"commit": "{new}"' in (project / ".cruft.json").read_text()
    run_own_project_tests(project, project_env(), bake="starter sample")  # counted exactly
    commit_all(project, "Update from the template")

    # A line the team changed and the next version changes too: a conflict, named, nothing lost.
    pruning = project / INTEGRATION / "runs" / "pruning.py"
    team_line = '"""Our own note on pruning."""'
    edit(pruning, pruning.read_text().splitlines()[0], team_line)
    commit_all(project, "The team's note")
    new_integration_version(template, "9.0.2", "Result folders of finished runs, pruned.")
    clashing = template.commit("Integration 9.0.2")

    conflict = make_update(project, clashing)
    assert conflict.returncode != 0, conflict.stdout + conflict.stderr
    assert f"  {INTEGRATION.as_posix()}/runs/pruning.py" in conflict.stderr.splitlines(), conflict.stderr
    text = pruning.read_text()
    assert "<<<<<<<" in text and team_line in text and "Result folders of finished runs, pruned." in text


def test_a_bake_around_a_teams_project_updates_after_that_folder_is_gone(tmp_path):
    """The hooks the update runs read the SQLMesh project from the project's own folder."""
    own = tmp_path / "team_sqlmesh"
    shutil.copytree(PROJECTS / "partitioned", own)
    template = TemplateClone.of_head(tmp_path / "template")
    project = template.cruft_create(tmp_path / "bakes", sqlmesh_project_path=str(own))
    install(project)
    shutil.rmtree(own)

    new_integration_version(template, "9.0.1", "Deleting old runs' result folders, newest first kept.")
    new = template.commit("Integration 9.0.1")
    updated = make_update(project, new)

    assert updated.returncode == 0, updated.stdout + updated.stderr
    assert files_of(project / INTEGRATION) == files_of(template.path / INTEGRATION_IN_TEMPLATE)
    changed = git("status", "--porcelain", cwd=project).splitlines()
    assert sorted(line[3:] for line in changed) == sorted(
        [".cruft.json", f"{INTEGRATION.as_posix()}/CHANGELOG.md", f"{INTEGRATION.as_posix()}/__init__.py",
         f"{INTEGRATION.as_posix()}/runs/pruning.py"]
    ), changed  # fmt: skip
