"""A baked project installed in its own virtual environment, and ways to run it for real.

A project is installed with ``make install``, as its README says, with uv
from the template's environment on PATH. Each test gets a scratch warehouse
and a scratch Dagster instance through environment variables, so tests never
share state unless they mean to.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

IN_PROJECT = Path(__file__).resolve().parents[1] / "e2e" / "in_project"
"""Scripts that run inside a baked project's environment."""
PROBE = IN_PROJECT / "dagster_probe.py"
TEMPLATE_BIN = Path(sys.executable).parent


def run(
    command: list[str], cwd: Path, env: dict[str, str], timeout: float = 600
) -> subprocess.CompletedProcess:
    """Run a command, failing the test with its output if it exits non-zero.

    Make's own variables are dropped, so a `make` run here behaves as in a user's shell
    even when the tests themselves run under `make test`.
    """
    env = {name: value for name, value in env.items() if name not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    result = subprocess.run(
        command, check=False, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, f"{command} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


def probe(project_root: Path, package: str, env: dict[str, str], *arguments: str) -> dict:
    """Run dagster_probe.py with the project's own Python; return its JSON summary."""
    command = [str(project_root / ".venv" / "bin" / "python"), str(PROBE), package, *arguments]
    result = subprocess.run(
        command, check=False, cwd=project_root, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, f"probe failed\n{result.stdout}\n{result.stderr[-5000:]}"
    return json.loads(result.stdout)


GENERATED_TESTS = {"demo": 179}
"""How many tests the demo bake's own `make test` runs, all of which must pass.

Exact, so that a test that stops being collected (a module renamed, a parametrization lost)
fails the count: change a number together with the generated tests it counts.
"""


def passed_tests(pytest_output: str, expected: int) -> int:
    """How many tests a pytest run passed; fails unless it says "N passed" alone, with N == ``expected``.

    Anything else in the summary (skipped, failed, errors, warnings, xfailed) fails, so a
    suite that skips part of itself cannot pass for a working one. pytest adds "(h:mm:ss)"
    to the duration from one minute on.
    """
    summary = re.search(r"^=+ (.*) in [\d.]+s(?: \([\d:]+\))? =+$", pytest_output, re.MULTILINE)
    assert summary, f"no pytest summary line in:\n{pytest_output[-5000:]}"
    passed = re.fullmatch(r"(\d+) passed", summary.group(1))
    assert passed, f"not only passed tests: {summary.group(1)}\n{pytest_output[-5000:]}"
    assert int(passed.group(1)) == expected, (
        f"{passed.group(1)} tests passed where {expected} run\n{pytest_output[-5000:]}"
    )
    return int(passed.group(1))


@dataclass
class Scratch:
    """A warehouse file and Dagster instance of one test, and the project it runs."""

    project: "InstalledProject"
    root: Path
    sqlmesh_project: Path
    executor: str = "in_process"
    extra_env: dict[str, str] = field(default_factory=dict)
    postgres: dict[str, str] | None = None
    """The POSTGRES_* settings, when the project's warehouse is PostgreSQL."""

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse.duckdb"

    @property
    def dagster_home(self) -> Path:
        return self.root / "dagster_home"

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "PATH": f"{TEMPLATE_BIN}{os.pathsep}{os.environ['PATH']}",
            "WAREHOUSE_PATH": str(self.warehouse),
            "DAGSTER_HOME": str(self.dagster_home),
            "SQLMESH_PROJECT_DIR": str(self.sqlmesh_project),
            "DAGSTER_EXECUTOR": self.executor,
            **(self.postgres or {}),
            **self.extra_env,
        }

    def materialize(
        self,
        *,
        select: list[str] | None = None,
        checks: list[str] | None = None,
        tags: dict[str, str] | None = None,
        reexecute_from_failure: str | None = None,
        module: str | None = None,
        job: str | None = None,
    ) -> dict:
        """Run a real Dagster job of the project; return what happened (see dagster_probe.py).

        ``checks`` ("asset/key:check_name") selects checks with exactly the assets in ``select``.
        """
        arguments = []
        if select:
            arguments += ["--select", ",".join(select)]
        if checks is not None:
            arguments += ["--checks", ",".join(checks)]
        for key, value in (tags or {}).items():
            arguments += ["--tag", f"{key}={value}"]
        if reexecute_from_failure:
            arguments += ["--reexecute-from-failure", reexecute_from_failure]
        if module:
            arguments += ["--module", module]
        if job:
            arguments += ["--job", job]
        return probe(self.project.root, self.project.package, self.env(), *arguments)

    def query(self, sql: str) -> list:
        """Read the warehouse from the project's environment (no run may be going on)."""
        if self.postgres:
            code = (
                "import json, os, sys, psycopg2; c = psycopg2.connect(host=os.environ['POSTGRES_HOST'], "
                "port=os.environ['POSTGRES_PORT'], user=os.environ['POSTGRES_USER'], "
                "dbname=os.environ['POSTGRES_DB']); cur = c.cursor(); cur.execute(sys.argv[1]); "
                "print(json.dumps([list(row) for row in cur.fetchall()], default=str))"
            )
            command = [str(self.project.python), "-c", code, sql]
        else:
            code = (
                "import duckdb, json, sys; print(json.dumps(duckdb.connect(sys.argv[1], read_only=True)"
                ".sql(sys.argv[2]).fetchall(), default=str))"
            )
            command = [str(self.project.python), "-c", code, str(self.warehouse), sql]
        return json.loads(run(command, self.project.root, self.env()).stdout)

    def execute(self, sql: str) -> None:
        """Write to the warehouse as another tool would (no run may be going on)."""
        if self.postgres:
            code = (
                "import os, sys, psycopg2; c = psycopg2.connect(host=os.environ['POSTGRES_HOST'], "
                "port=os.environ['POSTGRES_PORT'], user=os.environ['POSTGRES_USER'], "
                "dbname=os.environ['POSTGRES_DB']); c.cursor().execute(sys.argv[1]); c.commit(); c.close()"
            )
            run([str(self.project.python), "-c", code, sql], self.project.root, self.env())
            return
        code = "import duckdb, sys; duckdb.connect(sys.argv[1]).execute(sys.argv[2]).close()"
        run([str(self.project.python), "-c", code, str(self.warehouse), sql], self.project.root, self.env())


@dataclass
class InstalledProject:
    root: Path
    package: str

    @property
    def python(self) -> Path:
        return self.root / ".venv" / "bin" / "python"

    def scratch(
        self, root: Path, executor: str = "in_process", copy_sqlmesh_project: bool = False
    ) -> Scratch:
        """A fresh warehouse and instance; optionally a private copy of the SQLMesh project to edit."""
        sqlmesh_project = self.root / "sqlmesh_project"
        if copy_sqlmesh_project:
            sqlmesh_project = root / "sqlmesh_project"
            shutil.copytree(
                self.root / "sqlmesh_project", sqlmesh_project, ignore=shutil.ignore_patterns(".cache")
            )
        (root / "dagster_home").mkdir(parents=True)
        shutil.copy(self.root / "dagster_home" / "dagster.yaml", root / "dagster_home" / "dagster.yaml")
        return Scratch(project=self, root=root, sqlmesh_project=sqlmesh_project, executor=executor)


def install(project_root: Path) -> None:
    env = {**os.environ, "PATH": f"{TEMPLATE_BIN}{os.pathsep}{os.environ['PATH']}"}
    run(["make", "install"], cwd=project_root, env=env)


def bake_around(bake, own_project: Path, **answers: str) -> tuple[Path, dict[str, str]]:
    """Bake around a team's SQLMesh project (``bake`` is conftest's fixture), install it; its root and env.

    The environment is the one a team's shell has in the project: the template's
    tools on PATH, the project's own Dagster instance, no SQLMesh project dir of a test.
    """
    root = bake({"sqlmesh_project_path": str(own_project), **answers}, fresh=True)
    install(root)
    env = {
        **os.environ,
        "PATH": f"{TEMPLATE_BIN}{os.pathsep}{os.environ['PATH']}",
        "DAGSTER_HOME": str(root / "dagster_home"),
    }
    env.pop("SQLMESH_PROJECT_DIR", None)
    return root, env


OWN_PROJECT_TESTS = (
    "tests/test_definitions.py",
    "tests/test_pipeline.py",
    "tests/test_sqlmesh_unit_tests.py",
    "tests/test_warehouse.py",
)
"""The generated tests that test whatever SQLMesh project is there.

A bake around a team's project, the starter sample and the PostgreSQL bake run them through
``make test TESTS=...``; the vendored integration's own tests run on DuckDB projects of their own
whatever the bake, are the same files in every bake, and run in the demo bake's whole ``make test``.
"""
POSTGRES_STORE_TESTS = "tests/sqlmesh_integration/test_postgres_store.py"
"""The integration's tests that need a PostgreSQL server: only `postgres` bakes of a sample have them,
and the PostgreSQL bake runs them with its own project's tests."""
OWN_PROJECT_TEST_COUNT = {
    "duckdb": 13,
    "postgres": 11,
    "starter sample": 18,
    "postgres sample": 21,
    "spark sample": 16,
}
"""How many of them run: around a team's project, by warehouse (PostgreSQL's warehouse tests are
one fewer); on the starter sample, and on the demo sample on PostgreSQL, whose pipeline tests check
their own data too (with ``POSTGRES_STORE_TESTS``, 5); on the demo sample on Spark, without them."""


def run_own_project_tests(root: Path, env: dict[str, str], bake: str = "duckdb") -> int:
    """``make test`` of a bake with the tests of its SQLMesh project only (``bake``: which count)."""
    tests = [*OWN_PROJECT_TESTS, *([POSTGRES_STORE_TESTS] if bake == "postgres sample" else [])]
    result = run(["make", "test", f"TESTS={' '.join(tests)}"], root, env)
    return passed_tests(result.stdout, expected=OWN_PROJECT_TEST_COUNT[bake])
