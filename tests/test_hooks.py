"""The hooks themselves: standard library only, answers read as data, validation and pruning."""

from __future__ import annotations

import ast
import json
import shutil
import sys
from datetime import date
from pathlib import Path
from types import ModuleType

import pytest
from helpers.baking import (
    HOOKS_DIR,
    HOSTILE_CODE,
    TEMPLATE_DIR,
    Bake,
    answers_of,
    files_under,
    import_file,
    pwned_files,
    read_tree,
    render_hook,
    template_context,
)

# ---------------------------------------------------------------- the hooks themselves


@pytest.mark.parametrize("hook", ["pre_gen_project", "post_gen_project"])
def test_hooks_import_only_the_standard_library(hook: str) -> None:
    """Hooks run on Cookiecutter's interpreter, where the project's dependencies are absent.

    PyYAML is allowed: Cookiecutter itself depends on it (it reads its user config with it).
    """
    tree = ast.parse((HOOKS_DIR / f"{hook}.py").read_text(encoding="utf-8"))
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert {name.split(".")[0] for name in imported} <= sys.stdlib_module_names | {"__future__", "yaml"}


def test_hook_choices_match_cookiecutter_json(hooks: dict[str, ModuleType]) -> None:
    answers = json.loads((TEMPLATE_DIR / "cookiecutter.json").read_text())
    assert tuple(answers["sample_pipeline"]) == hooks["pre_gen_project"].ALLOWED_PIPELINES
    assert tuple(answers["warehouse"]) == hooks["pre_gen_project"].ALLOWED_WAREHOUSES


def test_defaults_are_valid(hooks: dict[str, ModuleType]) -> None:
    answers = template_context()["cookiecutter"]
    assert hooks["pre_gen_project"].validate(answers, date.today()) == []


@pytest.mark.parametrize(
    "value", ["shop", "shop_analytics", "a1_b2", "match", "x" + "_" * 3, "dagster_project"]
)
def test_package_name_accepted(hooks: dict[str, ModuleType], value: str) -> None:
    assert hooks["pre_gen_project"].check_package_name(value) is None


@pytest.mark.parametrize(
    "value",
    [
        "",
        "1abc",
        "_private",
        "class",
        "None",
        "dagster",
        "dagster_webserver",
        "duckdb",
        "sqlglot",
        "pandas",
        "pytest",
        "json",
        "os",
        "typing",
        "My-Pkg",
        "shop-analytics",
        "café",
        "shop\n",
        "a b",
    ],
)
def test_package_name_rejected(hooks: dict[str, ModuleType], value: str) -> None:
    error = hooks["pre_gen_project"].check_package_name(value)
    assert error is not None and error.startswith(f"ERROR: package_name {value!r} is not valid: ")
    assert "\n" not in error


@pytest.mark.parametrize("value", ["shop", "shop-analytics", "shop_2", "a", "a" * 100])
def test_project_slug_accepted(hooks: dict[str, ModuleType], value: str) -> None:
    assert hooks["pre_gen_project"].check_project_slug(value) is None


@pytest.mark.parametrize(
    "value",
    [
        "",
        "Bad Slug",
        "-lead",
        "_lead",
        "9lives",
        "trailing-",
        "Shop",
        "a" * 101,
        "../escape",
        "shop/x",
        "shop\n",
        "naïve",
    ],
)
def test_project_slug_rejected(hooks: dict[str, ModuleType], value: str) -> None:
    error = hooks["pre_gen_project"].check_project_slug(value)
    assert error is not None and error.startswith(f"ERROR: project_slug {value!r} is not valid: ")


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("2024-01-01", True),
        ("2024-02-29", True),
        ("2026-11-26", True),
        ("2023-02-29", False),
        ("2024-13-01", False),
        ("2024-1-01", False),
        ("20240101", False),
        ("yesterday", False),
        ("2024-01-01T00:00", False),
        ("２０２４-01-01", False),
        ("2026-11-28", False),
    ],
)
def test_start_date(hooks: dict[str, ModuleType], value: str, ok: bool) -> None:
    today = date(2026, 11, 27)
    assert (hooks["pre_gen_project"].check_start_date(value, today) is None) is ok


@pytest.mark.parametrize(
    ("answers", "bad_key"),
    [
        ({"project_name": "  "}, "project_name"),
        ({"author_email": "a@b"}, "author_email"),
        ({"author_name": "tab\there"}, "author_name"),
        ({"description": "line\u2028break"}, "description"),
    ],
)
def test_free_text_rejected(hooks: dict[str, ModuleType], answers: dict[str, str], bad_key: str) -> None:
    full = {**template_context()["cookiecutter"], **answers}
    errors = hooks["pre_gen_project"].validate(full, date.today())
    assert [e for e in errors if e.startswith(f"ERROR: {bad_key} ")]


def test_empty_email_accepted(hooks: dict[str, ModuleType]) -> None:
    full = {**template_context()["cookiecutter"], "author_email": ""}
    assert hooks["pre_gen_project"].validate(full, date.today()) == []


HOSTILE_TEXT = [
    *HOSTILE_CODE,
    "triple \"\"\" double and ''' single",
    "back\\slash at the end \\",
    "new\nline and \r return",
    "emoji 🦆 and \u2028 separator",
    "</script> & <b>",
]


@pytest.mark.parametrize("value", HOSTILE_TEXT)
@pytest.mark.parametrize("hook", ["pre_gen_project", "post_gen_project"])
def test_hooks_read_answers_as_data(hook: str, value: str, tmp_path: Path) -> None:
    """Rendering any value into a hook yields valid Python that returns the value intact.

    Intact means as Cookiecutter passes it: it renders each answer with Jinja,
    which turns a carriage return into a newline before any hook runs.
    """
    answers = {"project_name": value, "description": value}
    module = import_file(render_hook(hook, answers, tmp_path / f"{hook}.py"))
    read = module.rendered_answers() if hook == "pre_gen_project" else module.rendered_context()
    expected = value.replace("\r", "\n")
    assert read["project_name"] == expected and read["description"] == expected
    assert pwned_files(tmp_path) == []


def test_pre_gen_main_prints_one_line_per_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    answers = {"package_name": "1abc", "start_date": "x"}
    hook = import_file(render_hook("pre_gen_project", answers, tmp_path / "pre_gen_project.py"))
    assert hook.main() == 1
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        (
            "ERROR: package_name '1abc' is not valid: use lowercase letters, digits and underscores,"
            " starting with a letter."
        ),
        "ERROR: start_date 'x' is not valid: use a real date written YYYY-MM-DD, not later than today.",
    ]


def test_post_gen_prune_is_idempotent(hooks: dict[str, ModuleType], bake: Bake, tmp_path: Path) -> None:
    """Pruning a demo project twice gives exactly the starter's file set."""
    post = hooks["post_gen_project"]
    project = tmp_path / "project"
    shutil.copytree(bake({"sample_pipeline": "demo"}), project)
    context = {**answers_of(project), "sample_pipeline": "starter"}
    post.finish(project, context)
    first = read_tree(project)
    assert post.prune(project, post.STARTER_PRUNED) == []
    post.finish(project, context)
    assert read_tree(project) == first
    assert set(first) == files_under(bake({"sample_pipeline": "starter"}))
