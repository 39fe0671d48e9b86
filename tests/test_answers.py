"""Answers that must fail: each with its one-line message and nothing left behind; hostile text never runs."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from helpers.baking import (
    HOSTILE_CODE,
    TEMPLATE_DIR,
    answers_of,
    left_behind,
    pwned_files,
    run_cookiecutter,
    template_context,
)

# ---------------------------------------------------------------- input that must fail


def _future_date() -> str:
    return (date.today() + timedelta(days=30)).isoformat()


INVALID: list[tuple[str, str]] = [
    ("package_name", "1abc"),
    ("package_name", "class"),
    ("package_name", "dagster"),
    ("package_name", "sqlmesh"),
    ("package_name", "json"),
    ("package_name", "My-Pkg"),
    ("project_slug", "Bad Slug"),
    ("project_slug", "-lead"),
    ("project_slug", "x" * 101),
    ("start_date", "2024-13-01"),
    ("start_date", "yesterday"),
    ("start_date", _future_date()),
    ("author_email", "not-an-email"),
    ("project_name", ""),
    ("description", "two\nlines; __import__('os').system('touch PWNED')"),
]


@pytest.mark.parametrize(("key", "value"), INVALID, ids=[f"{k}={v[:20]!r}" for k, v in INVALID])
def test_invalid_answer_fails_cleanly(key: str, value: str, cli_env: dict[str, str], tmp_path: Path) -> None:
    args = ["--no-input", str(TEMPLATE_DIR), "-o", "out", f"{key}={value}"]
    result = run_cookiecutter(args, tmp_path, cli_env)
    assert result.returncode != 0
    assert f"ERROR: {key} {value!r} is not valid: " in result.stderr
    # A traceback from the hook itself would name its rendered copy in the temp folder.
    assert cli_env["TMPDIR"] not in result.stderr
    assert left_behind(tmp_path / "out") == []
    assert pwned_files(tmp_path) == []


def test_unknown_sample_pipeline_in_replay_file_fails(cli_env: dict[str, str], tmp_path: Path) -> None:
    """The CLI rejects unknown choices itself; a hand-edited replay file reaches the hook."""
    answers = {k: v for k, v in template_context()["cookiecutter"].items() if not k.startswith("_")}
    answers["sample_pipeline"] = "bogus"
    replay = tmp_path / "answers.json"
    replay.write_text(json.dumps({"cookiecutter": answers}), encoding="utf-8")
    args = ["--replay-file", str(replay), str(TEMPLATE_DIR), "-o", "out"]
    result = run_cookiecutter(args, tmp_path, cli_env)
    assert result.returncode != 0
    assert "ERROR: sample_pipeline 'bogus' is not valid: use one of demo, starter." in result.stderr
    assert left_behind(tmp_path / "out") == []


@pytest.mark.parametrize("value", HOSTILE_CODE)
@pytest.mark.parametrize("key", ["project_name", "description"])
def test_hostile_cli_value_never_runs(key: str, value: str, cli_env: dict[str, str], tmp_path: Path) -> None:
    """Code in an answer either bakes as plain text or is rejected; it never runs."""
    args = ["--no-input", str(TEMPLATE_DIR), "-o", "out", f"{key}={value}"]
    result = run_cookiecutter(args, tmp_path, cli_env)
    assert pwned_files(tmp_path, Path(cli_env["HOME"]), Path(cli_env["TMPDIR"])) == []
    if result.returncode == 0:
        (project,) = (tmp_path / "out").iterdir()
        assert answers_of(project)[key] == value
    else:
        assert f"ERROR: {key} " in result.stderr
        assert left_behind(tmp_path / "out") == []
