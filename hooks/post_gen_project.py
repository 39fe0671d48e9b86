"""Finish the generated project: prune unused samples, record answers, say what's next.

Cookiecutter renders this file with Jinja, then runs it with its own Python
interpreter (standard library only) with the generated project as the working
directory. It has no other side effect: no network, no install, no ``git init``.
Running it again on the same project changes nothing (``cruft update`` re-runs
hooks). The answers are read as data, as in ``pre_gen_project.py``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path

# What the "starter" sample leaves out: the models that fail on purpose, their
# audits and SQLMesh tests, and any docs page that only describes them. These
# are ``Path.glob`` patterns relative to the project root.
STARTER_PRUNED = (
    "sqlmesh_project/models/failure_demo",
    "sqlmesh_project/audits/failure_demo_*",
    "sqlmesh_project/tests/test_failure_demo*",
    "docs/**/*failure_demo*",
    # The screenshots show the demo run; only the demo's tutorial sections use them.
    "docs/images",
)

# What a bake around the team's own SQLMesh project leaves out: the sample's SQLMesh
# project (replaced), the ingestion asset that feeds the sample, and the docs about it.
OWN_PROJECT_PRUNED = (
    "sqlmesh_project",
    "src/*/ingestion.py",
    "docs/tutorial.md",
    "docs/images",
    # Its tests edit the sample's own files (macros, config.py, model descriptions).
    "tests/sqlmesh_integration/test_project_cache.py",
    # Its tests use the sample's test database (POSTGRES_DB with "_test"); see POSTGRES_ONLY.
    "tests/sqlmesh_integration/test_postgres_store.py",
)
# What a DuckDB bake leaves out: the tests of the integration's records in a PostgreSQL state
# (steps on other hosts), which need the PostgreSQL server every `postgres` bake's tests use.
POSTGRES_ONLY = ("tests/sqlmesh_integration/test_postgres_store.py",)
# Not copied from the team's project: caches, logs, and warehouse files (data, not code).
NOT_COPIED = (".cache", "logs", "__pycache__", "*.db", "*.db.wal", "*.duckdb", "*.duckdb.wal")

# The answers are recorded here, in the format ``cookiecutter --replay-file`` reads.
ANSWERS_FILE = ".cookiecutter.json"


def prune(root: Path, patterns: tuple[str, ...]) -> list[Path]:
    """Delete every file or folder under ``root`` matching ``patterns``; return them."""
    removed = []
    for pattern in patterns:
        for path in sorted(root.glob(pattern)):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            elif path.exists() or path.is_symlink():
                path.unlink()
            else:  # already gone with a folder matched earlier
                continue
            removed.append(path)
    return removed


def answers_json(context: dict[str, object]) -> str:
    """Serialise the user's answers: public keys only, sorted, stable formatting.

    Keys starting with ``_`` are left out: they are template internals (version
    pins, ``_copy_without_render``) or machine-specific paths (``_output_dir``,
    ``_repo_dir``, ``_template``, ``_checkout``) that must not land in the project.
    """
    answers = {key: context[key] for key in sorted(context) if not key.startswith("_")}
    return json.dumps({"cookiecutter": answers}, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def next_steps(slug: str) -> str:
    """Return the message printed once the project is generated."""
    return "\n".join(
        [
            f"Created {slug}. Next steps:",
            f"  cd {slug}",
            "  make dev    # install into .venv, then start the Dagster UI on http://127.0.0.1:3000",
            "  make test   # run the project's tests",
        ]
    )


def bring_own_project(root: Path, source: Path) -> None:
    """Replace the sample with the team's SQLMesh project, copied as it is (its files are not rendered)."""
    prune(root, OWN_PROJECT_PRUNED)
    shutil.copytree(source, root / "sqlmesh_project", ignore=shutil.ignore_patterns(*NOT_COPIED))


# A series of days as a table: ``FROM GENERATE_SERIES(a, b, INTERVAL '1' DAY) AS t(day)``.
# DuckDB and PostgreSQL run it as written; SQLGlot gives Spark an EXPLODE it rejects.
DAY_SERIES_TABLE = re.compile(r"GENERATE_SERIES\((?P<arguments>[^()]*(?:\([^()]*\)[^()]*)*)\) AS (?P<alias>\w+)\(day\)")


def write_day_series_for_spark(models: Path) -> None:
    """Write the sample's series of days as ``UNNEST(GENERATE_SERIES(...))``, which SQLGlot gives Spark as EXPLODE.

    That form is DuckDB's too, but PostgreSQL's GENERATE_SERIES returns rows,
    not an array to unnest: the sample keeps the form both run, and a Spark
    bake gets this one (the sample's models are copied, not rendered).
    """
    for path in sorted(models.rglob("*.sql")):
        text = path.read_text(encoding="utf-8")
        spark = DAY_SERIES_TABLE.sub(r"UNNEST(GENERATE_SERIES(\g<arguments>)) AS \g<alias>(day)", text)
        if spark != text:
            path.write_text(spark, encoding="utf-8", newline="\n")


def finish(root: Path, context: dict[str, object]) -> None:
    """Apply the answers to the generated project at ``root``."""
    own = str(context.get("sqlmesh_project_path", "")).strip()
    if own:
        # A relative path is read from the output folder, as the pre-generation hook read it;
        # `make update` names the project's own folder instead (pre_gen_project.UPDATE_SOURCE).
        source = os.environ.get("TEMPLATE_UPDATE_SQLMESH_PROJECT", "").strip() or own
        bring_own_project(root, (root.parent / source).expanduser())
    elif context.get("sample_pipeline") == "starter":
        prune(root, STARTER_PRUNED)
    if context.get("warehouse") != "postgres":
        prune(root, POSTGRES_ONLY)
    if context.get("warehouse") == "spark" and not own:
        write_day_series_for_spark(root / "sqlmesh_project" / "models")
    (root / ANSWERS_FILE).write_text(answers_json(context), encoding="utf-8", newline="\n")


def rendered_context() -> dict[str, object]:
    """Return the context Cookiecutter rendered into this file."""
    # tojson escapes every ' so no answer can end this string; keep the quotes as they are.
    return json.loads(r'''{{ cookiecutter | tojson }}''')  # fmt: skip


def main() -> int:
    """Finish the project in the working directory and print the next steps."""
    context = rendered_context()
    finish(Path.cwd(), context)
    print(next_steps(str(context["project_slug"])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
