"""The generated tests of a bake around a team's SQLMesh project hold on the template's test projects.

Each bake runs its own `make test` with the tests of its SQLMesh project
(``OWN_PROJECT_TESTS``), counted strictly: every_kind has every model kind,
an EMBEDDED model, a standalone audit, Python models, a signal, an external
model and models that fail on purpose; partitioned reads an external table
that has no data; real_partitioned has a Python model and partitions of two
sizes, below and above unpartitioned models.
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers.project import OWN_PROJECT_TEST_COUNT, OWN_PROJECT_TESTS, bake_around, run_own_project_tests

pytestmark = pytest.mark.e2e

PROJECTS = Path(__file__).parent / "sqlmesh_projects"
OWN_PROJECT_TESTS_RUN = OWN_PROJECT_TEST_COUNT["duckdb"]
# What fails on purpose in every_kind (its README): removing these and the source's audits fixes it.
FAILING_MODELS = ["broken.sql", "after_broken.sql", "withheld.sql", "after_withheld.sql"]
BROKEN_COMMAND = 'make sqlmesh ARGS="plan --auto-apply --no-prompts --select-model +marts.broken"'


def failing_make_test(root: Path, env: dict[str, str]) -> str:
    """``make test`` of the project's own tests, which must fail: what pytest printed."""
    env = {name: value for name, value in env.items() if name not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    command = ["make", "test", f"TESTS={' '.join(OWN_PROJECT_TESTS)}"]
    result = subprocess.run(
        command, check=False, cwd=root, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode != 0, result.stdout[-5000:]
    return result.stdout


def summary(pytest_output: str) -> str:
    """pytest's closing counts ("1 failed, 10 passed")."""
    found = re.search(r"^=+ (.*) in [\d.]+s(?: \([\d:]+\))? =+$", pytest_output, re.MULTILINE)
    assert found, pytest_output[-5000:]
    return found.group(1)


def fix_every_kind(project: Path) -> None:
    """What the team would fix: the models that fail on purpose go, and the source's failing audits."""
    for name in FAILING_MODELS:
        (project / "models" / "marts" / name).unlink()
    sources = project / "external_models.yaml"
    text = sources.read_text()
    sources.write_text(text[: text.index("  audits:")])


def test_a_bake_around_every_kind_says_its_failures_are_its_own_then_passes_once_they_are_fixed(
    bake, tmp_path
):
    """every_kind fails in SQLMesh itself (a model, a blocking audit, a source's audit): the generated
    pipeline test says so, model by model, with SQLMesh's error and the command that reproduces it,
    while its definitions tests pass. Once fixed, its whole `make test` passes."""
    own = tmp_path / "team_project"
    shutil.copytree(PROJECTS / "every_kind", own)
    root, env = bake_around(bake, own)

    output = failing_make_test(root, env)
    assert summary(output) == f"1 failed, {OWN_PROJECT_TESTS_RUN - 1} passed", output[-5000:]
    assert "FAILED tests/test_pipeline.py::test_every_asset_builds_as_sqlmesh_builds_it" in output
    message = output[output.index("The project fails in SQLMesh itself") :]
    assert "the failure is the project's own, not the integration's" in message
    expected_lines = [
        "  landing.events (a source) failed: Audits failed: not_null",
        (
            "  marts.broken failed: Conversion Error: Could not convert string 'shipped' to INT32 when "
            "casting from source column status"
        ),
        f"    reproduce it: {BROKEN_COMMAND}",
        "  marts.withheld failed: Audits failed: assert_no_refunds",
        "  marts.after_broken skipped: something it reads failed",
        "  marts.after_withheld skipped: something it reads failed",
        "  staging.events skipped: something it reads failed",
        "  staging.orders warned: non-blocking audits failed: accepted_range",
        "  standalone audit orders_in_latest warned: non-blocking audits failed: orders_in_latest",
    ]
    lines = message.splitlines()
    assert all(line in lines for line in expected_lines), message[:3000]
    assert "disagrees" not in output

    # The command the message gives reproduces the failure with SQLMesh alone, in the team's folder.
    warehouse = {**env, "WAREHOUSE_PATH": str(tmp_path / "team_warehouse.duckdb")}
    arguments = BROKEN_COMMAND.removeprefix("make sqlmesh ARGS=").strip('"')
    command = ["make", "sqlmesh", f"ARGS={arguments}"]
    cli = subprocess.run(command, check=False, cwd=root, env=warehouse, capture_output=True, text=True)
    assert "Conversion Error: Could not convert string 'shipped' to INT32" in cli.stdout + cli.stderr

    fix_every_kind(root / "sqlmesh_project")
    run_own_project_tests(root, env)  # every one passed, counted exactly


@pytest.mark.parametrize("project", ["partitioned", "real_partitioned"])
def test_a_bake_around_a_partitioned_test_project_passes_its_make_test(bake, tmp_path, project):
    """partitioned: its models read landing.orders, which has no data (the tests create it empty, with
    the columns external_models.yaml declares). real_partitioned: a Python model, hourly and daily
    partitions, an unpartitioned model on each side of the partitioned ones."""
    own = tmp_path / "team_project"
    shutil.copytree(PROJECTS / project, own)
    root, env = bake_around(bake, own)

    run_own_project_tests(root, env)  # every one passed, counted exactly
    assert set(os.listdir(own)) == set(os.listdir(PROJECTS / project))  # the team's folder: never written
