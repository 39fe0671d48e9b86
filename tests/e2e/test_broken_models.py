"""A broken SQLMesh project says which file is wrong, and what is wrong with it.

Each test breaks one file of a private copy of the demo's SQLMesh project and
looks where a user would look:

- a project that does not load fails the code location: checked with the
  real CLI (`dagster definitions validate`, which prints what the UI shows),
  and once in a served `make dev`, fixed and reloaded without a restart;
- a model the database refuses fails the steps of a real run, each naming the
  model, its file and the database's error.
"""

import re
import subprocess
from dataclasses import dataclass

import pytest
from helpers.dagster_dev import free_port, graphql, serving
from helpers.project import Scratch
from helpers.sample_expectations import ALL_MODELS_DEMO, PARTITIONED_MODELS, PYTHON_ASSETS

pytestmark = pytest.mark.e2e

LOCATION = "shop_analytics"
# The one paragraph the integration turns a load failure into (vocabulary/diagnostics.py).
LOAD_MESSAGE = re.compile(r"SQLMesh could not load the project in \S+\. .+")


@dataclass(frozen=True)
class Break:
    """In one file of the SQLMesh project, replace ``old`` (found exactly once) by ``new``; no ``new``: delete it."""

    file: str
    old: str = ""
    new: str | None = None

    def apply(self, scratch: Scratch) -> str:
        """Break the file; return its original text (to fix it again)."""
        path = scratch.sqlmesh_project / self.file
        original = path.read_text()
        if self.new is None:
            path.unlink()
            return original
        assert original.count(self.old) == 1, f"{self.file} no longer contains {self.old!r} exactly once"
        path.write_text(original.replace(self.old, self.new))
        return original


# Each case: the break, then what the message must say (the file as the user
# knows it, and the problem in words).
LOAD_FAILURES = {
    "sql_syntax_error": (
        Break(
            "models/marts/customers.sql",
            "\nSELECT\n  customers.customer_id,",
            "\nSELEC\n  customers.customer_id,",
        ),
        ["sqlmesh_project/models/marts/customers.sql, line ", "SQL syntax error", "`SELEC`"],
    ),
    "undefined_audit": (
        Break(
            "models/marts/customers.sql",
            "    unique_values(columns := (customer_id)),",
            "    no_such_audit(),",
        ),
        ["sqlmesh_project/models/marts/customers.sql:", "the audit 'no_such_audit' does not exist"],
    ),
    "audit_with_broken_sql": (
        Break("audits/assert_positive_amounts.sql", "WHERE @column <= 0", "WHER @column <= 0"),
        [
            "sqlmesh_project/audits/assert_positive_amounts.sql, line ",
            "SQL syntax error",
            "`WHER @column <= 0`",
        ],
    ),
    "config_syntax_error": (
        Break("config.py", '    default_gateway="local",', '    default_gateway="local"'),
        ["sqlmesh_project/config.py, line ", "Python syntax error", '`default_gateway="local"`'],
    ),
    "config_name_error": (
        Break("config.py", "database=str(WAREHOUSE_PATH)", "database=str(WAREHOUSE_FILE)"),
        ["sqlmesh_project/config.py, line ", "NameError: name 'WAREHOUSE_FILE' is not defined"],
    ),
    "missing_seed_file": (
        Break("seeds/orders.csv"),
        [
            "sqlmesh_project/models/raw/orders.sql:",
            "a file it reads is missing: sqlmesh_project/seeds/orders.csv",
        ],
    ),
}

# Models that load but that the database refuses when SQLMesh creates their table.
DATABASE_FAILURES = {
    "missing_table": (
        Break(
            "models/marts/customers.sql",
            "  FROM staging.stg_orders\n  GROUP BY",
            "  FROM staging.no_such_table\n  GROUP BY",
        ),
        'Table with name "staging.no_such_table" does not exist',
    ),
    "missing_column": (
        Break(
            "models/marts/customers.sql",
            "MIN(order_date) AS first_order_date",
            "MIN(order_day) AS first_order_date",
        ),
        'Referenced column "order_day" not found',
    ),
}


def validate(scratch: Scratch) -> subprocess.CompletedProcess:
    """`dagster definitions validate` in the project, against the scratch's SQLMesh project."""
    return subprocess.run(
        [str(scratch.project.root / ".venv" / "bin" / "dagster"), "definitions", "validate"],
        check=False,
        cwd=scratch.project.root,
        env=scratch.env(),
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize("case", LOAD_FAILURES)
def test_a_project_that_does_not_load_names_the_file_and_the_problem(demo_project, tmp_path, case):
    broken, expected = LOAD_FAILURES[case]
    scratch = demo_project.scratch(tmp_path, copy_sqlmesh_project=True)
    broken.apply(scratch)

    result = validate(scratch)
    output = result.stdout + result.stderr
    assert result.returncode != 0, f"validation passed with a broken {broken.file}:\n{output[-3000:]}"
    found = LOAD_MESSAGE.search(output)
    assert found, f"no 'SQLMesh could not load the project' message in:\n{output[-5000:]}"
    message = found.group(0)
    for fragment in expected:
        assert fragment in message, f"{fragment!r} missing from the message users see:\n{message}"
    assert "\x1b[" not in message, f"terminal colour codes in the message:\n{message!r}"


@pytest.mark.parametrize("case", DATABASE_FAILURES)
def test_a_model_the_database_refuses_fails_the_run_naming_model_file_and_error(demo_project, tmp_path, case):
    broken, database_error = DATABASE_FAILURES[case]
    scratch = demo_project.scratch(tmp_path, copy_sqlmesh_project=True)
    broken.apply(scratch)

    summary = scratch.materialize()

    # The refused model fails its own asset, naming its file and the database's error;
    # what is below it is not executed, and the rest of the project is built.
    assert summary["status"] == "FAILURE"
    assert summary["executions"] == 1
    message = summary["failures"]["marts__customers"]
    assert "marts.customers (sqlmesh_project/models/marts/customers.sql)" in message, message
    assert database_error in message, message
    assert "marts__customer_segments" not in summary["steps"]
    assert {"marts/orders", "marts/daily_revenue", "staging/stg_orders"} <= set(summary["materialized"])
    assert "marts/customers" not in summary["materialized"]


def location_entry(port: int) -> dict:
    data = graphql(
        port,
        """{ workspaceOrError { ... on Workspace { locationEntries {
               name loadStatus
               locationOrLoadError { __typename ... on PythonError { message causes { message } } }
           } } } }""",
    )
    entries = {entry["name"]: entry for entry in data["workspaceOrError"]["locationEntries"]}
    return entries[LOCATION]


def reload_location(port: int) -> dict:
    data = graphql(
        port,
        f"""mutation {{ reloadRepositoryLocation(repositoryLocationName: "{LOCATION}") {{
               __typename
               ... on WorkspaceLocationEntry {{ locationOrLoadError {{ __typename }} }}
               ... on PythonError {{ message }}
           }} }}""",
    )
    return data["reloadRepositoryLocation"]


def test_make_dev_shows_the_broken_file_then_recovers_on_reload(demo_project, tmp_path):
    broken, expected = LOAD_FAILURES["sql_syntax_error"]
    scratch = demo_project.scratch(tmp_path, copy_sqlmesh_project=True)
    original = broken.apply(scratch)
    port = free_port()

    with serving(["make", "dev", f"PORT={port}"], demo_project.root, scratch.env(), port, timeout=180):
        entry = location_entry(port)
        error = entry["locationOrLoadError"]
        assert error["__typename"] == "PythonError", f"the location loaded with a broken model: {entry}"
        shown = "\n".join([error["message"], *(cause["message"] for cause in error["causes"])])
        found = LOAD_MESSAGE.search(shown)
        assert found, f"the UI's load error lacks the explanation:\n{shown[-5000:]}"
        for fragment in expected:
            assert fragment in found.group(0), (
                f"{fragment!r} missing from the UI's load error:\n{found.group(0)}"
            )

        (scratch.sqlmesh_project / broken.file).write_text(original)
        reloaded = reload_location(port)
        assert reloaded["__typename"] == "WorkspaceLocationEntry", reloaded
        assert reloaded["locationOrLoadError"]["__typename"] == "RepositoryLocation", reloaded
        nodes = graphql(port, "{ assetNodes { assetKey { path } } }")["assetNodes"]
        keys = {"/".join(node["assetKey"]["path"]) for node in nodes}
        assert keys == PYTHON_ASSETS | {
            model.replace(".", "/") for model in ALL_MODELS_DEMO | PARTITIONED_MODELS
        }
