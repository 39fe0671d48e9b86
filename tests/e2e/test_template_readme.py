"""The template README's two commands, as written, from a copy of the repository."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers.dagster_dev import free_port, graphql, serving

pytestmark = pytest.mark.e2e

TEMPLATE_DIR = Path(__file__).resolve().parents[2]


def readme_commands() -> list[str]:
    block = re.search(r"```bash\n(.*?)```", (TEMPLATE_DIR / "README.md").read_text(), re.DOTALL).group(1)
    return [line.split("#")[0].strip() for line in block.splitlines() if line.split("#")[0].strip()]


def test_readme_starts_with_demo_and_test():
    assert readme_commands() == ["make demo", "make test"]
    ci = (TEMPLATE_DIR / ".ci" / "run").read_text()
    assert re.search(r"^exec make test$", ci, re.MULTILINE)


def tracked_copy(destination: Path) -> Path:
    """The files git tracks (what a clone has), plus the template's installed .venv."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=TEMPLATE_DIR, capture_output=True, check=True)
    for name in files.stdout.decode().split("\0"):
        if name and (TEMPLATE_DIR / name).is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(TEMPLATE_DIR / name, destination / name)
    # `make demo` would create the same .venv from requirements-dev.txt; reuse this one.
    (destination / ".venv").symlink_to(TEMPLATE_DIR / ".venv")
    return destination


def test_make_demo_bakes_runs_the_main_job_and_serves_the_ui(tmp_path, isolated_env):
    clone = tracked_copy(tmp_path / "clone")
    port = free_port()
    # The demo project keeps its runs in its own dagster_home/, as `make dev` sets it.
    env = {name: value for name, value in os.environ.items() if name != "DAGSTER_HOME"}
    with serving(["make", "demo", f"PORT={port}"], clone, env, port, timeout=420) as log:
        runs = graphql(port, "{ runsOrError { ... on Runs { results { status } } } }")
        statuses = [run["status"] for run in runs["runsOrError"]["results"]]
        # The main job ran once before the UI started; it fails where the demo fails on purpose.
        assert statuses == ["FAILURE"]
        assert "fails on purpose" in Path(log).read_text()
    project = clone / "build" / "demo" / "shop-analytics"
    assert (project / "data" / "warehouse.duckdb").is_file()
