"""Validate the answers before Cookiecutter writes the project files.

Cookiecutter renders this file with Jinja, then runs it with its own Python
interpreter inside the freshly created project folder: the standard library
and Cookiecutter's own dependency PyYAML, never the project's dependencies.
Where SQLMesh happens to be installed beside Cookiecutter, an existing SQLMesh
project is also loaded by SQLMesh itself, in a process of its own.
On any invalid answer it prints one line per problem to stderr and exits 1;
Cookiecutter then deletes the project folder it had created.

The answers are read as data, never pasted into code: Jinja's ``tojson`` filter
emits one line of ASCII JSON in which every ``'`` is escaped as ``\\u0027``, so
no value can close the raw ``'''`` string below, whatever quotes, backslashes,
newlines or code it contains. The functions above ``main`` are pure so the tests
can import this file once it is rendered.
"""

from __future__ import annotations

import importlib.util
import json
import keyword
import os
import re
import shutil
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

# Keep in sync with the ``sample_pipeline`` and ``warehouse`` lists in cookiecutter.json
# (a test checks it).
ALLOWED_PIPELINES = ("demo", "starter")
ALLOWED_WAREHOUSES = ("duckdb", "postgres", "spark")

# Names the generated package must not take: importing it would shadow one of
# the project's own dependencies. Standard-library modules are added below.
SHADOWED_PACKAGES = frozenset(
    {"dagster", "dagster_webserver", "duckdb", "pandas", "pytest", "sqlglot", "sqlmesh"}
)
STDLIB_MODULES = frozenset(sys.stdlib_module_names)

PACKAGE_RE = re.compile(r"[a-z][a-z0-9_]*")
# PEP 508 names end with a letter or digit; lowercase only so folder == distribution.
SLUG_RE = re.compile(r"[a-z](?:[a-z0-9_-]*[a-z0-9])?")
SLUG_MAX_LENGTH = 100
DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
# Free-text answers end up on one line of TOML, Markdown and comments.
ONE_LINE_KEYS = ("project_name", "description", "author_name", "author_email")


def _error(key: str, value: object, allowed: str) -> str:
    """Format one problem as a single line; ``repr`` keeps newlines escaped."""
    return f"ERROR: {key} {value!r} is not valid: {allowed}."


def check_package_name(value: str) -> str | None:
    """Return an error line, or None when ``value`` is a usable package name."""
    if not PACKAGE_RE.fullmatch(value) or not value.isidentifier():
        return _error(
            "package_name",
            value,
            "use lowercase letters, digits and underscores, starting with a letter",
        )
    if keyword.iskeyword(value):
        return _error("package_name", value, "it is a Python keyword, pick another name")
    if value in SHADOWED_PACKAGES or value in STDLIB_MODULES:
        return _error(
            "package_name",
            value,
            "it would shadow a dependency or standard-library module of the same name, pick another name",
        )
    return None


def check_project_slug(value: str) -> str | None:
    """Return an error line, or None when ``value`` is a usable folder/distribution name."""
    if len(value) > SLUG_MAX_LENGTH or not SLUG_RE.fullmatch(value):
        return _error(
            "project_slug",
            value,
            "use lowercase letters, digits, '-' and '_', starting with a letter,"
            f" ending with a letter or digit, at most {SLUG_MAX_LENGTH} characters",
        )
    return None


def check_start_date(value: str, today: date) -> str | None:
    """Return an error line, or None when ``value`` is a past-or-today YYYY-MM-DD date."""
    allowed = "use a real date written YYYY-MM-DD, not later than today"
    if not DATE_RE.fullmatch(value):
        return _error("start_date", value, allowed)
    try:
        parsed = date.fromisoformat(value)
    except ValueError:
        return _error("start_date", value, allowed)
    if parsed > today:
        return _error("start_date", value, f"{allowed} ({today.isoformat()})")
    return None


def check_sample_pipeline(value: str) -> str | None:
    """Return an error line, or None when ``value`` is one of the offered choices."""
    if value not in ALLOWED_PIPELINES:
        return _error("sample_pipeline", value, "use one of " + ", ".join(ALLOWED_PIPELINES))
    return None


def check_warehouse(value: str) -> str | None:
    """Return an error line, or None when ``value`` is one of the offered warehouses."""
    if value not in ALLOWED_WAREHOUSES:
        return _error("warehouse", value, "use one of " + ", ".join(ALLOWED_WAREHOUSES))
    return None


SQLMESH_CONFIGS = ("config.yaml", "config.yml", "config.py")


def check_sqlmesh_project_path(value: str, base: Path, load: bool = True) -> str | None:
    """Return an error line, or None when ``value`` is empty (the sample) or a SQLMesh project's folder.

    A relative path is read from ``base``, the folder Cookiecutter writes the
    project into (the current directory, unless ``--output-dir`` says otherwise).
    ``load``: have SQLMesh load it where SQLMesh is installed; not during an update,
    which reads the project's own folder (its settings come from the project's .env).
    """
    if not value.strip():
        return None
    folder = (base / value).expanduser()
    if not folder.is_dir():
        return _error(
            "sqlmesh_project_path",
            value,
            f"{folder} is not a folder; give the folder of your SQLMesh project",
        )
    if not any((folder / name).is_file() for name in SQLMESH_CONFIGS):
        return _error(
            "sqlmesh_project_path",
            value,
            f"{folder} has no {', '.join(SQLMESH_CONFIGS)}, so it is not a SQLMesh project; "
            "give the folder you run `sqlmesh` in",
        )
    if not (folder / "models").is_dir():
        return _error(
            "sqlmesh_project_path",
            value,
            f"{folder} has no models/ folder; give the folder you run `sqlmesh` in",
        )
    problem = unreadable_file(folder) or (sqlmesh_load_error(folder) if load else None)
    return _error("sqlmesh_project_path", value, problem) if problem else None


def unreadable_file(folder: Path) -> str | None:
    """The first configuration or Python file of the project that cannot be parsed, and why.

    SQLMesh would refuse the same file when the project is loaded; saying so now
    names the file and line before anything is written.
    """
    import yaml  # Cookiecutter's own dependency, so present wherever the bake runs.

    for name in SQLMESH_CONFIGS[:2]:
        path = folder / name
        if path.is_file():
            try:
                yaml.safe_load(path.read_text(encoding="utf-8"))
            except (yaml.YAMLError, UnicodeDecodeError) as error:
                return f"{path} is not valid YAML ({' '.join(str(error).split())}); fix it and bake again"
    python_files = [
        folder / "config.py",
        *sorted(folder.glob("models/**/*.py")),
        *sorted(folder.glob("macros/**/*.py")),
    ]
    for path in python_files:
        if path.is_file():
            try:
                compile(path.read_bytes(), str(path), "exec")
            except (SyntaxError, ValueError) as error:
                line = f" line {error.lineno}" if isinstance(error, SyntaxError) and error.lineno else ""
                return f"{path}{line} is not valid Python ({error.msg if isinstance(error, SyntaxError) else error}); fix it and bake again"
    return None


# Loads the project as the generated project will, with every connection replaced by an
# in-memory DuckDB: what is checked is the project (config, models, macros, audits), never
# whether its warehouse is reachable from where Cookiecutter runs.
_LOAD_CHECK = """
import sys
from pathlib import Path
from sqlmesh import Context
from sqlmesh.core.config import Config, DuckDBConnectionConfig
from sqlmesh.core.config.loader import load_configs

folder = Path(sys.argv[1])
try:
    config = load_configs("config", Config, paths=folder)[folder]
    offline = DuckDBConnectionConfig()
    gateways = {
        name: gateway.model_copy(update={"connection": offline, "state_connection": None, "test_connection": None})
        for name, gateway in config.gateways.items()
    }
    config = config.model_copy(update={"gateways": gateways, "default_connection": offline})
    Context(paths=folder, config=config)
except Exception as error:
    cause = error
    while cause is not None and not isinstance(cause, ImportError):
        cause = cause.__cause__ or cause.__context__
    if cause is not None:
        sys.exit(3)  # the engine's driver is not installed here: the project cannot be asked
    print(MARKER, type(error).__name__ + ":", " ".join(str(error).split()), file=sys.stderr)
    sys.exit(1)
"""
_LOAD_ERROR_MARKER = "SQLMESH-LOAD-ERROR"
_DRIVER_MISSING = 3
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")
LOAD_CHECK_SECONDS = 600


def sqlmesh_load_error(folder: Path, python: str | None = None) -> str | None:
    """SQLMesh's own error when it cannot load the project; None when it loads or cannot be asked.

    ``python`` is an interpreter with SQLMesh installed: by default Cookiecutter's
    own, when SQLMesh is importable there. Elsewhere the check is left to
    ``make install``, which loads the definitions (the bake's last message says so).
    A copy is loaded, so SQLMesh's cache and logs never land in the team's folder.
    """
    if python is None:
        if importlib.util.find_spec("sqlmesh") is None:
            return None
        python = sys.executable
    with tempfile.TemporaryDirectory(prefix="sqlmesh-project-check-") as scratch:
        copy = Path(scratch) / "project"
        shutil.copytree(
            folder, copy, ignore=shutil.ignore_patterns(".cache", "logs", "*.db", "*.duckdb", "*.wal")
        )
        try:
            result = subprocess.run(
                [python, "-c", f"MARKER = {_LOAD_ERROR_MARKER!r}\n{_LOAD_CHECK}", str(copy)],
                check=False,  # the exit status is read below
                capture_output=True,
                text=True,
                timeout=LOAD_CHECK_SECONDS,
                env={**os.environ, "SQLMESH__DISABLE_ANONYMIZED_ANALYTICS": "1"},
            )
        except subprocess.TimeoutExpired:
            return f"SQLMesh did not load {folder} within {LOAD_CHECK_SECONDS} s"
    if result.returncode in (0, _DRIVER_MISSING):
        return None
    lines = _ANSI_ESCAPE.sub("", result.stderr).replace(str(copy), str(folder)).splitlines()
    marked = [
        line.removeprefix(_LOAD_ERROR_MARKER).strip() for line in lines if line.startswith(_LOAD_ERROR_MARKER)
    ]
    reason = marked[-1] if marked else (lines[-1] if lines else f"exit code {result.returncode}")
    return f"SQLMesh cannot load {folder}: {reason}; fix the project (`sqlmesh info` inside it shows the same) and bake again"


def check_free_text(answers: dict[str, object]) -> list[str]:
    """Check the human-written answers: one line each, name required, email shaped."""
    errors = []
    for key in ONE_LINE_KEYS:
        value = str(answers.get(key, ""))
        if any(not char.isprintable() for char in value):
            errors.append(_error(key, value, "use a single line of printable characters"))
    if not str(answers.get("project_name", "")).strip():
        errors.append(_error("project_name", answers.get("project_name", ""), "it must not be empty"))
    email = str(answers.get("author_email", ""))
    if email and not EMAIL_RE.fullmatch(email):
        errors.append(_error("author_email", email, "leave it empty or use an address like name@example.com"))
    return errors


def validate(
    answers: dict[str, object], today: date, base: Path | None = None, updating: bool = False
) -> list[str]:
    """Return every problem found in ``answers`` (empty when all are valid).

    ``base`` is where a relative ``sqlmesh_project_path`` is read from (the output folder);
    ``updating``: the project is being updated (``UPDATE_SOURCE``), so SQLMesh does not load it.
    """
    checks = [
        check_sqlmesh_project_path(
            str(answers.get("sqlmesh_project_path", "")), base or Path.cwd(), load=not updating
        ),
        check_project_slug(str(answers.get("project_slug", ""))),
        check_package_name(str(answers.get("package_name", ""))),
        check_sample_pipeline(str(answers.get("sample_pipeline", ""))),
        check_warehouse(str(answers.get("warehouse", ""))),
        check_start_date(str(answers.get("start_date", "")), today),
    ]
    return check_free_text(answers) + [error for error in checks if error]


# Set by the generated project's `make update` to its own SQLMesh project folder: an update
# renders the template twice through cruft, and the folder the project was baked around
# (sqlmesh_project_path) may have moved or gone since; what the hooks copy from it is
# skipped by the update anyway.
UPDATE_SOURCE = "TEMPLATE_UPDATE_SQLMESH_PROJECT"


def with_update_source(answers: dict[str, object], update_source: str) -> dict[str, object]:
    """``answers``, reading the team's SQLMesh project from ``update_source`` when one is given.

    Only a bake around a team's project is concerned; the sample's bakes ignore it.
    """
    if update_source.strip() and str(answers.get("sqlmesh_project_path", "")).strip():
        return {**answers, "sqlmesh_project_path": update_source.strip()}
    return answers


def rendered_answers() -> dict[str, object]:
    """Return the answers Cookiecutter rendered into this file."""
    # tojson escapes every ' so no answer can end this string; keep the quotes as they are.
    return json.loads(r'''{{ cookiecutter | tojson }}''')  # fmt: skip


def main() -> int:
    """Validate the rendered answers; print problems and return 1 if any."""
    # Cookiecutter runs this hook inside the project folder it created in the output folder.
    update_source = os.environ.get(UPDATE_SOURCE, "")
    answers = with_update_source(rendered_answers(), update_source)
    errors = validate(answers, date.today(), Path.cwd().parent, updating=bool(update_source.strip()))
    for error in errors:
        print(error, file=sys.stderr)
    if not errors and not update_source.strip() and str(answers.get("sqlmesh_project_path", "")).strip():
        print(own_project_checked(importlib.util.find_spec("sqlmesh") is not None))
    return 1 if errors else 0


def own_project_checked(loaded: bool) -> str:
    """What the bake checked of the team's SQLMesh project, so nobody takes a syntax check for a load."""
    if loaded:
        return "SQLMesh loaded your project: its configuration, models, macros and audits."
    return (
        "SQLMesh is not installed beside Cookiecutter, so your project's configuration and Python files "
        "were checked for syntax only; `make test` in the new project loads and runs it with SQLMesh."
    )


if __name__ == "__main__":
    sys.exit(main())
