"""Session fixtures of the end-to-end tests: each bake installed once, shared by every test."""

from dataclasses import dataclass

import pytest
from helpers.demo_outcomes import mart_rows, on_one_utc_day
from helpers.project import InstalledProject, Scratch, install


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
