"""Validate the answers before Cookiecutter writes the project files.

Cookiecutter renders this file with Jinja, then runs it with its own Python
interpreter (standard library only) inside the freshly created project folder.
On any invalid answer it prints one line per problem to stderr and exits 1;
Cookiecutter then deletes the project folder it had created.

The answers are read as data, never pasted into code: Jinja's ``tojson`` filter
emits one line of ASCII JSON in which every ``'`` is escaped as ``\\u0027``, so
no value can close the raw ``'''`` string below, whatever quotes, backslashes,
newlines or code it contains. The functions above ``main`` are pure so the tests
can import this file once it is rendered.
"""

from __future__ import annotations

import json
import keyword
import re
import sys
from datetime import date
from pathlib import Path

# Keep in sync with the ``sample_pipeline`` and ``warehouse`` lists in cookiecutter.json
# (a test checks it).
ALLOWED_PIPELINES = ("demo", "starter")
ALLOWED_WAREHOUSES = ("duckdb", "postgres")

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


def check_sqlmesh_project_path(value: str, base: Path) -> str | None:
    """Return an error line, or None when ``value`` is empty (the sample) or a SQLMesh project's folder.

    A relative path is read from ``base``, the folder Cookiecutter writes the
    project into (the current directory, unless ``--output-dir`` says otherwise).
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
    return None


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


def validate(answers: dict[str, object], today: date, base: Path | None = None) -> list[str]:
    """Return every problem found in ``answers`` (empty when all are valid).

    ``base`` is where a relative ``sqlmesh_project_path`` is read from (the output folder).
    """
    checks = [
        check_sqlmesh_project_path(str(answers.get("sqlmesh_project_path", "")), base or Path.cwd()),
        check_project_slug(str(answers.get("project_slug", ""))),
        check_package_name(str(answers.get("package_name", ""))),
        check_sample_pipeline(str(answers.get("sample_pipeline", ""))),
        check_warehouse(str(answers.get("warehouse", ""))),
        check_start_date(str(answers.get("start_date", "")), today),
    ]
    return check_free_text(answers) + [error for error in checks if error]


def rendered_answers() -> dict[str, object]:
    """Return the answers Cookiecutter rendered into this file."""
    # tojson escapes every ' so no answer can end this string; keep the quotes as they are.
    return json.loads(r'''{{ cookiecutter | tojson }}''')  # fmt: skip


def main() -> int:
    """Validate the rendered answers; print problems and return 1 if any."""
    # Cookiecutter runs this hook inside the project folder it created in the output folder.
    errors = validate(rendered_answers(), date.today(), Path.cwd().parent)
    for error in errors:
        print(error, file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
