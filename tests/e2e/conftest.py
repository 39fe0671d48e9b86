"""Session fixtures of the end-to-end tests: each bake installed once, shared by every test."""

import pytest
from helpers.project import InstalledProject, install


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
