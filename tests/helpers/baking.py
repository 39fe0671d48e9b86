"""Baking the template in tests: its rendered context, expected file sets, hooks and CLI.

Expected file sets are computed from the template tree, so files added to the
template later need no change in the tests; only the key files and the pruning
rules of the "starter" sample are spelled out.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from collections.abc import Callable, Mapping
from fnmatch import fnmatch
from pathlib import Path
from types import ModuleType
from typing import Any

from cookiecutter.generate import generate_context
from cookiecutter.prompt import prompt_for_config
from cookiecutter.utils import create_env_with_context

Bake = Callable[..., Path]
"""The ``bake`` fixture of conftest.py."""

TEMPLATE_DIR = Path(__file__).resolve().parents[2]
PROJECT_TEMPLATE = TEMPLATE_DIR / "{{cookiecutter.project_slug}}"
HOOKS_DIR = TEMPLATE_DIR / "hooks"

# Answer sets of the bake matrix: the defaults and each sample_pipeline value.
MATRIX: dict[str, dict[str, str]] = {
    "defaults": {},
    "demo": {"sample_pipeline": "demo"},
    "starter": {"sample_pipeline": "starter"},
    "postgres": {"warehouse": "postgres"},
    "spark": {"warehouse": "spark"},
}

# What post_gen_project.py removes for "starter", as fnmatch patterns ("*" crosses "/").
STARTER_PRUNED = (
    "sqlmesh_project/models/failure_demo/*",
    "sqlmesh_project/audits/failure_demo_*",
    "sqlmesh_project/tests/test_failure_demo*",
    "docs/*failure_demo*",
    "docs/images/*",
)
# What it rewrites for a Spark warehouse: the sample's series of days, as UNNEST(GENERATE_SERIES(...)).
SPARK_REWRITTEN = (
    "sqlmesh_project/models/marts/daily_revenue.sql",
    "sqlmesh_project/models/web/page_views.sql",
)
# What it removes for a DuckDB warehouse: the integration's tests that need a PostgreSQL server.
POSTGRES_ONLY = ("tests/sqlmesh_integration/test_postgres_store.py",)

KEY_FILES = (
    ".cookiecutter.json",
    ".gitignore",
    "Makefile",
    "README.md",
    "pyproject.toml",
    "sqlmesh_project/config.py",
    "src/{package}/definitions.py",
    "src/{package}/sqlmesh_integration/__init__.py",
)

# Bytes that prove a Cookiecutter expression was left unrendered
# (".cookiecutter.json" and "cookiecutter.json" may legitimately be mentioned).
PLACEHOLDER_RE = re.compile(rb"cookiecutter\.(?!json\b)\w|\{\{-?\s*cookiecutter\b|\{%-?[^%]*\bcookiecutter\b")

# Folders and files that must never be shipped in a baked project.
ARTEFACT_NAMES = {"__pycache__", ".venv", ".cache", ".pytest_cache", ".ruff_cache", ".DS_Store"}
ARTEFACT_SUFFIXES = (".pyc", ".duckdb", ".duckdb.wal", ".db")

PWNED = "PWNED"
HOSTILE_CODE = (
    "__import__('os').system('touch PWNED')",
    "'''; import os; os.system('touch PWNED') #",
)


def template_context(answers: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Build the context Cookiecutter would use for ``answers`` with --no-input."""
    context = generate_context(
        context_file=str(TEMPLATE_DIR / "cookiecutter.json"), extra_context=dict(answers or {})
    )
    context["cookiecutter"] = prompt_for_config(context, no_input=True)
    return context


def files_under(root: Path) -> set[str]:
    """Return the POSIX paths, relative to ``root``, of every file below it."""
    return {path.relative_to(root).as_posix() for path in root.rglob("*") if not path.is_dir()}


def expected_files(answers: Mapping[str, str]) -> set[str]:
    """Render the template's file names for ``answers`` and apply the documented pruning."""
    context = template_context(answers)
    env = create_env_with_context(context)
    rendered = {env.from_string(name).render(**context) for name in files_under(PROJECT_TEMPLATE)}
    if context["cookiecutter"]["sample_pipeline"] == "starter":
        rendered = {name for name in rendered if not any(fnmatch(name, p) for p in STARTER_PRUNED)}
    if context["cookiecutter"]["warehouse"] != "postgres":
        rendered = {name for name in rendered if not any(fnmatch(name, p) for p in POSTGRES_ONLY)}
    return rendered | {".cookiecutter.json"}


def read_tree(root: Path) -> dict[str, bytes]:
    """Return every file below ``root`` with its bytes, keyed by relative path."""
    return {name: (root / name).read_bytes() for name in sorted(files_under(root))}


def answers_of(project: Path) -> dict[str, str]:
    """Return the answers recorded by the post-generation hook."""
    return json.loads((project / ".cookiecutter.json").read_text(encoding="utf-8"))["cookiecutter"]


def render_hook(name: str, answers: Mapping[str, str], dest: Path) -> Path:
    """Render ``hooks/<name>.py`` the way Cookiecutter does and write it to ``dest``."""
    context = template_context(answers)
    source = (HOOKS_DIR / f"{name}.py").read_text(encoding="utf-8")
    dest.write_text(create_env_with_context(context).from_string(source).render(**context), encoding="utf-8")
    return dest


def import_file(path: Path) -> ModuleType:
    """Import a Python file as a fresh module (its ``__main__`` block does not run)."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_cookiecutter(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run the Cookiecutter CLI in a subprocess, capturing the hooks' output too."""
    return subprocess.run(
        [sys.executable, "-m", "cookiecutter", *args],
        check=False,  # the tests assert on the exit status
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


def left_behind(output_dir: Path) -> list[Path]:
    """Return what a failed bake left in ``output_dir`` (which may not exist)."""
    return list(output_dir.iterdir()) if output_dir.exists() else []


def pwned_files(*roots: Path) -> list[Path]:
    """Return every file named PWNED below ``roots`` (proof that injected code ran)."""
    return [path for root in roots if root.exists() for path in root.rglob(PWNED)]
