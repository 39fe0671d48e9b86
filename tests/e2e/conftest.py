"""Session fixtures of the end-to-end tests: each bake installed once, shared by every test."""

import os
from dataclasses import dataclass

import pytest
from helpers.dagster_dev import free_port
from helpers.demo_outcomes import mart_rows, on_one_utc_day
from helpers.postgres_server import postgres_server, server_binaries
from helpers.project import TEMPLATE_BIN, InstalledProject, Scratch, install, run
from helpers.redis_server import redis_binary, redis_server


@pytest.fixture(scope="session")
def demo_project(bake) -> InstalledProject:
    """The default bake (demo sample), installed."""
    root = bake(fresh=True)
    install(root)
    return InstalledProject(root=root, package="shop_analytics")


@pytest.fixture(scope="session")
def starter_project(bake) -> InstalledProject:
    """The starter bake (every model succeeds), installed."""
    root = bake({"sample_pipeline": "starter"}, fresh=True)
    install(root)
    return InstalledProject(root=root, package="shop_analytics")


@dataclass(frozen=True)
class DemoRuns:
    """The demo's first run on an empty warehouse, and the run of everything right after it."""

    scratch: Scratch
    first: dict
    first_mart_rows: dict
    next: dict


@pytest.fixture(scope="session")
def demo_runs(demo_project, tmp_path_factory) -> DemoRuns:
    """The demo's first two runs of everything, in-process on DuckDB, the same UTC day.

    Executed once per session: test_shared_execution checks both runs in full, and
    tests that need a built warehouse (test_selection) read and restate it.
    """

    def runs() -> DemoRuns:
        scratch = demo_project.scratch(tmp_path_factory.mktemp("demo-runs"))
        first = scratch.materialize()
        rows = mart_rows(scratch)
        return DemoRuns(scratch=scratch, first=first, first_mart_rows=rows, next=scratch.materialize())

    return on_one_utc_day(runs)


@pytest.fixture(scope="session")
def postgres():
    if server_binaries() is None:
        pytest.skip("PostgreSQL is not installed (.ci/run installs Debian's postgresql package)")
    with postgres_server(free_port(), databases=["dagster"]) as server:
        yield server


@pytest.fixture(scope="session")
def postgres_project(bake) -> InstalledProject:
    """The `warehouse=postgres` bake, installed with the deployment extra (dagster-postgres)."""
    root = bake({"warehouse": "postgres"}, fresh=True)
    install(root)
    environment = {**os.environ, "PATH": f"{TEMPLATE_BIN}{os.pathsep}{os.environ['PATH']}"}
    run(
        ["uv", "pip", "install", "--quiet", "-e", ".[dev,deploy]"],
        root,
        {**environment, "VIRTUAL_ENV": str(root / ".venv")},
    )
    return InstalledProject(root=root, package="shop_analytics")


@pytest.fixture(scope="session")
def redis():
    """A Redis server's URL: the Celery broker of the step-per-worker tests."""
    if redis_binary() is None:
        pytest.skip("Redis is not installed (.ci/run installs Debian's redis-server package)")
    with redis_server(free_port()) as url:
        yield url
