"""The generated project's CI workflow: valid YAML that runs what the README documents.

The workflow is a Jinja template too; GitHub's own ``${{ ... }}`` expressions
survive baking only because the template wraps them in ``{% raw %}``.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.specifiers import SpecifierSet
from packaging.version import Version

Bake = Callable[..., Path]  # the ``bake`` fixture of conftest.py

WORKFLOW = Path(".github/workflows/ci.yml")
MATRIX_EXPRESSION = "${{ matrix.python-version }}"
# What CI runs: the README's test command, then SQLMesh's unit tests through SQLMesh's CLI;
# on pull requests, the plan report for prod into the run's summary.
CI_COMMANDS = ["make test", ".venv/bin/sqlmesh -p sqlmesh_project test"]
PLAN_COMMAND = "make plan REPORT=$GITHUB_STEP_SUMMARY"

ANSWER_SETS: dict[str, dict[str, str]] = {
    "defaults": {},
    "starter": {"sample_pipeline": "starter"},
    "postgres": {"warehouse": "postgres"},
}


@pytest.fixture(params=list(ANSWER_SETS))
def project(request: pytest.FixtureRequest, bake: Bake) -> Path:
    return bake(ANSWER_SETS[request.param])


def load_workflow(project: Path) -> dict[Any, Any]:
    workflow = yaml.safe_load((project / WORKFLOW).read_text(encoding="utf-8"))
    assert isinstance(workflow, dict), f"{WORKFLOW} is not a YAML mapping"
    return workflow


def steps(workflow: dict[Any, Any], job: str | None = None) -> list[dict[str, Any]]:
    """Every step of ``job``, or of every job, in order."""
    jobs = [workflow["jobs"][job]] if job else workflow["jobs"].values()
    return [step for each in jobs for step in each["steps"]]


def python_versions(workflow: dict[Any, Any]) -> list[object]:
    """The values of every job's ``matrix.python-version``."""
    return [
        version
        for job in workflow["jobs"].values()
        for version in job.get("strategy", {}).get("matrix", {}).get("python-version", [])
    ]


def readme_commands(project: Path) -> set[str]:
    """Commands the README documents: lines of its bash blocks and rows of its command tables.

    Comments (`` # ...``) are stripped as a shell would. A command table is one whose
    header starts with ``| command |``; each row gives its command in backticks in
    the first cell (``| `make lint` | check the code with ruff |``).
    """
    readme = (project / "README.md").read_text(encoding="utf-8")
    commands = set()
    for block in re.findall(r"^```bash\n(.*?)^```", readme, re.DOTALL | re.MULTILINE):
        commands.update(re.split(r"\s#", line)[0].strip() for line in block.splitlines())
    for rows in re.findall(r"^\| command \|.*\n\|[- |]+\|\n((?:\|.*\n)*)", readme, re.MULTILINE):
        commands.update(re.findall(r"^\|\s*`([^`]+)`\s*\|", rows, re.MULTILINE))
    return commands - {""}


def test_workflow_is_valid_yaml_with_jobs(project: Path) -> None:
    workflow = load_workflow(project)
    # YAML 1.1 (PyYAML) reads the bare key ``on`` as the boolean True; GitHub reads it as "on".
    triggers = workflow.get("on", workflow.get(True))
    assert triggers, f"{WORKFLOW} has no 'on:' triggers"
    assert workflow.get("jobs"), f"{WORKFLOW} has no jobs"
    assert all(step.get("uses") or step.get("run") for step in steps(workflow)), (
        f"{WORKFLOW} has a step that neither uses an action nor runs a command"
    )


def test_github_expressions_survive_baking_verbatim(project: Path) -> None:
    text = (project / WORKFLOW).read_text(encoding="utf-8")
    assert MATRIX_EXPRESSION in text, f"{MATRIX_EXPRESSION} did not survive baking (is it in {{% raw %}}?)"
    assert not re.search(r"{%|%}|cookiecutter\.", text), f"Jinja left over in {WORKFLOW}"
    setup_python = [
        step for step in steps(load_workflow(project), "test") if "setup-python" in step.get("uses", "")
    ]
    assert [step["with"]["python-version"] for step in setup_python] == [MATRIX_EXPRESSION], (
        "actions/setup-python should be given the matrix's Python version"
    )


def test_workflow_runs_the_test_commands(project: Path) -> None:
    runs = [step["run"].strip() for step in steps(load_workflow(project), "test") if "run" in step]
    assert runs == CI_COMMANDS, f"{WORKFLOW} runs {runs}, expected {CI_COMMANDS}"


def test_pull_requests_get_the_plan_report_for_prod(project: Path) -> None:
    workflow = load_workflow(project)
    plan = workflow["jobs"]["plan"]
    assert plan["if"] == "github.event_name == 'pull_request'"
    assert [step["run"].strip() for step in steps(workflow, "plan") if "run" in step] == [PLAN_COMMAND]
    answers = json.loads((project / ".cookiecutter.json").read_text(encoding="utf-8"))["cookiecutter"]
    if answers["warehouse"] == "postgres":  # the plan reads production's state, from secrets
        assert plan["env"]["POSTGRES_HOST"] == "${{ secrets.POSTGRES_HOST }}"


def test_readme_documents_every_command_ci_runs(project: Path) -> None:
    undocumented = [
        command for command in [*CI_COMMANDS, PLAN_COMMAND] if command not in readme_commands(project)
    ]
    assert not undocumented, f"README.md does not document what CI runs: {undocumented}"


def test_python_versions_are_supported_by_the_project(project: Path) -> None:
    pyproject = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    requires = SpecifierSet(pyproject["project"]["requires-python"])
    versions = python_versions(load_workflow(project))
    assert versions, f"{WORKFLOW} has no python-version matrix"
    # Unquoted, YAML reads 3.10 as the number 3.1.
    assert all(isinstance(version, str) for version in versions), f"quote the versions: {versions}"
    unsupported = [version for version in versions if Version(str(version)) not in requires]
    assert not unsupported, f"CI tests Python {unsupported}, outside requires-python {requires}"
    lowest = min(
        (Version(spec.version) for spec in requires if spec.operator in (">=", "~=", "==")), default=None
    )
    assert lowest in {Version(str(version)) for version in versions}, (
        f"CI does not test the oldest supported Python {lowest} (requires-python {requires})"
    )
