"""Bake the template and check the generated files, the hooks and the failure modes.

Expected file sets are computed from the template tree, so files added to the
template later need no change here; only the key files and the pruning rules of
the "starter" sample are spelled out.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable, Mapping
from datetime import date, timedelta
from fnmatch import fnmatch
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from cookiecutter.generate import generate_context
from cookiecutter.prompt import prompt_for_config
from cookiecutter.utils import create_env_with_context

Bake = Callable[..., Path]  # the ``bake`` fixture of conftest.py

TEMPLATE_DIR = Path(__file__).resolve().parent.parent
PROJECT_TEMPLATE = TEMPLATE_DIR / "{{cookiecutter.project_slug}}"
HOOKS_DIR = TEMPLATE_DIR / "hooks"

# Answer sets of the bake matrix: the defaults and each sample_pipeline value.
MATRIX: dict[str, dict[str, str]] = {
    "defaults": {},
    "demo": {"sample_pipeline": "demo"},
    "starter": {"sample_pipeline": "starter"},
    "postgres": {"warehouse": "postgres"},
}

# What post_gen_project.py removes for "starter", as fnmatch patterns ("*" crosses "/").
STARTER_PRUNED = (
    "sqlmesh_project/models/failure_demo/*",
    "sqlmesh_project/audits/failure_demo_*",
    "sqlmesh_project/tests/test_failure_demo*",
    "docs/*failure_demo*",
    "docs/images/*",
)

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


# ---------------------------------------------------------------- helpers


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


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def hooks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ModuleType]:
    """The two hooks rendered with the default answers and imported."""
    folder = tmp_path_factory.mktemp("hooks")
    return {
        name: import_file(render_hook(name, {}, folder / f"{name}.py"))
        for name in ("pre_gen_project", "post_gen_project")
    }


@pytest.fixture(params=sorted(MATRIX), scope="session")
def baked(request: pytest.FixtureRequest, bake: Bake) -> tuple[dict[str, str], Path]:
    """One project per answer set of the matrix: (answers, project path)."""
    answers = MATRIX[request.param]
    return answers, bake(answers)


@pytest.fixture
def cli_env(isolated_env: dict[str, str]) -> dict[str, str]:
    """Environment for Cookiecutter subprocesses: private HOME and temp folder."""
    return dict(isolated_env)


# ---------------------------------------------------------------- the bake matrix


def test_baked_file_set_matches_template(baked: tuple[dict[str, str], Path]) -> None:
    answers, project = baked
    assert files_under(project) == expected_files(answers)


def test_key_files_exist(baked: tuple[dict[str, str], Path]) -> None:
    _, project = baked
    package = answers_of(project)["package_name"]
    missing = [
        name for name in (f.format(package=package) for f in KEY_FILES) if not (project / name).is_file()
    ]
    assert missing == []


def test_failure_demo_only_in_demo(baked: tuple[dict[str, str], Path]) -> None:
    _, project = baked
    leftovers = [p for p in project.rglob("*failure_demo*")]
    if answers_of(project)["sample_pipeline"] == "starter":
        assert leftovers == []
    else:
        assert (project / "sqlmesh_project/models/failure_demo").is_dir()
        assert any((project / "sqlmesh_project/models/failure_demo").iterdir())


def test_no_placeholder_left(baked: tuple[dict[str, str], Path]) -> None:
    _, project = baked
    bad_names = [p for p in project.rglob("*") if "{{" in p.name or "{%" in p.name]
    bad_contents = sorted(name for name, data in read_tree(project).items() if PLACEHOLDER_RE.search(data))
    assert bad_names == []
    assert bad_contents == []


def test_structured_files_parse(baked: tuple[dict[str, str], Path]) -> None:
    _, project = baked
    for path in sorted(project.rglob("*")):
        if path.suffix not in (".toml", ".json", ".py"):
            continue
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".toml":
            tomllib.loads(text)
        elif path.suffix == ".json":
            json.loads(text)
        elif path.suffix == ".py":
            ast.parse(text, filename=str(path))


def test_yaml_files_parse(baked: tuple[dict[str, str], Path]) -> None:
    yaml = pytest.importorskip("yaml", reason="PyYAML is not installed")
    _, project = baked
    for path in sorted([*project.rglob("*.yaml"), *project.rglob("*.yml")]):
        list(yaml.safe_load_all(path.read_text(encoding="utf-8")))


def test_copy_without_render_files_are_verbatim(baked: tuple[dict[str, str], Path]) -> None:
    _, project = baked
    patterns = json.loads((TEMPLATE_DIR / "cookiecutter.json").read_text())["_copy_without_render"]
    package = answers_of(project)["package_name"]
    checked = 0
    for name in sorted(files_under(PROJECT_TEMPLATE)):
        baked_file = project / name.replace("{{cookiecutter.package_name}}", package)
        if any(fnmatch(name, p) for p in patterns) and baked_file.exists():
            assert baked_file.read_bytes() == (PROJECT_TEMPLATE / name).read_bytes(), name
            checked += 1
    assert checked > 0


def test_no_build_artefacts_or_empty_folders(baked: tuple[dict[str, str], Path]) -> None:
    """Nothing generated by running tools, and no empty folder (git would not keep it)."""
    _, project = baked
    paths = list(project.rglob("*"))
    artefacts = [p for p in paths if p.name in ARTEFACT_NAMES or p.name.endswith(ARTEFACT_SUFFIXES)]
    empty = [p.relative_to(project).as_posix() for p in paths if p.is_dir() and not any(p.iterdir())]
    assert artefacts == []
    assert empty == []


def test_answers_file_records_public_answers(baked: tuple[dict[str, str], Path]) -> None:
    answers, project = baked
    text = (project / ".cookiecutter.json").read_text(encoding="utf-8")
    recorded = json.loads(text)["cookiecutter"]
    public = {k: v for k, v in template_context(answers)["cookiecutter"].items() if not k.startswith("_")}
    assert recorded == public
    assert list(recorded) == sorted(recorded)
    assert str(TEMPLATE_DIR) not in text and str(project.parent) not in text


def test_next_steps_use_existing_make_targets(hooks: dict[str, ModuleType], bake: Bake) -> None:
    project = bake()
    makefile = (project / "Makefile").read_text(encoding="utf-8")
    message = hooks["post_gen_project"].next_steps(answers_of(project)["project_slug"])
    for target in re.findall(r"^\s*make (\S+)", message, flags=re.MULTILINE):
        assert re.search(rf"^{re.escape(target)}\s*:", makefile, flags=re.MULTILINE), target
    assert "http://127.0.0.1:3000" in message


def test_foreign_jinja_in_models_survives(bake: Bake) -> None:
    """SQLMesh Jinja models must reach the project byte for byte, and the demo has one."""
    project = bake({"sample_pipeline": "demo"})
    models = PROJECT_TEMPLATE / "sqlmesh_project" / "models"
    jinja_models = [
        path
        for path in sorted(models.rglob("*"))
        if path.is_file() and (b"{{" in path.read_bytes() or b"{%" in path.read_bytes())
    ]
    for path in jinja_models:
        baked_file = project / path.relative_to(PROJECT_TEMPLATE)
        assert baked_file.read_bytes() == path.read_bytes(), path.name
    assert jinja_models, "no SQLMesh model in the template uses Jinja ({{ }} or {% %})"


# ---------------------------------------------------------------- determinism and replay


@pytest.mark.parametrize("pipeline", ["demo", "starter"])
def test_same_answers_bake_identical_trees(bake: Bake, pipeline: str) -> None:
    answers = {"sample_pipeline": pipeline}
    assert read_tree(bake(answers, fresh=True)) == read_tree(bake(answers))


def test_replay_file_rebakes_identical_tree(bake: Bake, cli_env: dict[str, str], tmp_path: Path) -> None:
    """``cookiecutter --replay-file .cookiecutter.json`` reproduces the project."""
    project = bake({"sample_pipeline": "starter"})
    replay = tmp_path / "answers.json"
    shutil.copyfile(project / ".cookiecutter.json", replay)
    args = ["--replay-file", str(replay), str(TEMPLATE_DIR), "-o", "out"]
    result = run_cookiecutter(args, tmp_path, cli_env)
    assert result.returncode == 0, result.stderr
    assert read_tree(tmp_path / "out" / project.name) == read_tree(project)


# ---------------------------------------------------------------- awkward input that must bake

LONG_NAME = "Quarterly Revenue Reconciliation and Forecasting Platforms for the Nordic Region"
AWKWARD: dict[str, dict[str, str]] = {
    "spaces": {"project_name": "My   Data  Platform"},
    "dashes": {"project_name": "shop-analytics-v2 -- nightly"},
    "quotes": {"project_name": "O'Brien's \"quoted\" pipeline"},
    "non_ascii": {"project_name": "Données Café Ünïcode", "author_name": "Zoë Ångström"},
    "long_name": {"project_name": LONG_NAME},
    "emoji": {"project_name": "Duck 🦆 Pond", "description": "Quacks 🦆 in UTF-8, outside the BMP"},
    "description": {"description": 'Say """hi""" to C:\\data\\new\\ and \\u0041 \\ end \\'},
    "hostile_name_1": {"project_name": HOSTILE_CODE[0]},
    "hostile_name_2": {"project_name": HOSTILE_CODE[1]},
    "hostile_description_1": {"description": HOSTILE_CODE[0]},
    "hostile_description_2": {"description": HOSTILE_CODE[1]},
}


def test_long_name_is_80_characters() -> None:
    assert len(LONG_NAME) == 80


@pytest.mark.parametrize("case", sorted(AWKWARD))
def test_awkward_answers_bake_and_are_preserved(bake: Bake, case: str) -> None:
    answers = AWKWARD[case]
    project = bake(answers)
    recorded = answers_of(project)
    pyproject = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    for key, value in answers.items():
        assert recorded[key] == value
    assert pyproject["project"]["name"] == recorded["project_slug"] == project.name
    assert pyproject["project"]["description"] == recorded["description"]
    assert recorded["project_name"] in (project / "README.md").read_text(encoding="utf-8")
    for path in project.rglob("*.py"):
        ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    assert pwned_files(project.parent) == []


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


# ---------------------------------------------------------------- the hooks themselves


@pytest.mark.parametrize("hook", ["pre_gen_project", "post_gen_project"])
def test_hooks_import_only_the_standard_library(hook: str) -> None:
    """Hooks run on Cookiecutter's interpreter, where the project's dependencies are absent."""
    tree = ast.parse((HOOKS_DIR / f"{hook}.py").read_text(encoding="utf-8"))
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert {name.split(".")[0] for name in imported} <= sys.stdlib_module_names | {"__future__"}


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
