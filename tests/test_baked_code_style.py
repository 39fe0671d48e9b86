"""Every bake passes its own linter and formatter (ruff, with the project's own settings)."""

import subprocess
import sys
from pathlib import Path

import pytest

RUFF = Path(sys.executable).parent / "ruff"

ANSWER_SETS = {
    "duckdb-demo": {},
    "duckdb-starter": {"sample_pipeline": "starter"},
    "postgres-demo": {"warehouse": "postgres"},
    "postgres-starter": {"warehouse": "postgres", "sample_pipeline": "starter"},
    "spark-demo": {"warehouse": "spark"},
}


@pytest.mark.parametrize("answers", ANSWER_SETS.values(), ids=ANSWER_SETS.keys())
@pytest.mark.parametrize("command", [["check"], ["format", "--check"]], ids=["check", "format"])
def test_baked_python_passes_ruff(bake, answers: dict[str, str], command: list[str]) -> None:
    project = bake(answers)  # shared with other tests: leave no .ruff_cache in it
    result = subprocess.run(
        [str(RUFF), *command, "--no-cache", "src", "tests"],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
