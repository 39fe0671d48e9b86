"""Shared fixtures for baking the template once per set of answers per test session."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import ModuleType

import pytest
from cookiecutter.main import cookiecutter
from helpers.baking import import_file, render_hook

TEMPLATE_DIR = Path(__file__).resolve().parent.parent

# SQLMesh sends anonymous usage statistics, and may wait on the network at exit, unless told not
# to: every command the tests start (sqlmesh init, dg scaffold, runs outside make) inherits this.
os.environ["SQLMESH__DISABLE_ANONYMIZED_ANALYTICS"] = "1"

Bake = Callable[..., Path]


@pytest.fixture(scope="session")
def isolated_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Point HOME and the temp folder at session-private folders; return that environment.

    Cookiecutter resolves ``~/.cookiecutter_replay`` when it is imported, so a
    changed HOME only reaches subprocesses; in-process bakes use ``cookiecutter_config``
    instead. The temp folder matters because Cookiecutter never deletes the
    rendered hook scripts it writes there.
    """
    home = tmp_path_factory.mktemp("home")
    tmp = tmp_path_factory.mktemp("tmp")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOME", str(home))
        patch.setenv("TMPDIR", str(tmp))
        patch.setattr(tempfile, "tempdir", str(tmp))
        yield dict(os.environ)


@pytest.fixture(scope="session")
def cookiecutter_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Cookiecutter user config keeping replay files and clones out of the real HOME.

    ``default_config=True`` is not enough: it still writes ``~/.cookiecutter_replay/``.
    """
    root = tmp_path_factory.mktemp("cookiecutter-user")
    config = root / "config.yaml"
    settings = {"cookiecutters_dir": str(root / "clones"), "replay_dir": str(root / "replay")}
    config.write_text(json.dumps(settings), encoding="utf-8")  # JSON is valid YAML
    return config


@pytest.fixture(scope="session")
def bake(
    tmp_path_factory: pytest.TempPathFactory,
    isolated_env: dict[str, str],
    cookiecutter_config: Path,
) -> Bake:
    """Return ``bake(answers=None, fresh=False) -> project path``.

    The same answers are baked once per session unless ``fresh`` asks for a new copy.
    """
    cache: dict[tuple[tuple[str, str], ...], Path] = {}

    def _bake(answers: Mapping[str, str] | None = None, fresh: bool = False) -> Path:
        key = tuple(sorted((answers or {}).items()))
        if fresh or key not in cache:
            project = cookiecutter(
                str(TEMPLATE_DIR),
                no_input=True,
                extra_context=dict(key),
                output_dir=str(tmp_path_factory.mktemp("bake")),
                config_file=str(cookiecutter_config),
            )
            if fresh:
                return Path(project)
            cache[key] = Path(project)
        return cache[key]

    return _bake


@pytest.fixture(scope="session")
def hooks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ModuleType]:
    """The two hooks rendered with the default answers and imported."""
    folder = tmp_path_factory.mktemp("hooks")
    return {
        name: import_file(render_hook(name, {}, folder / f"{name}.py"))
        for name in ("pre_gen_project", "post_gen_project")
    }


@pytest.fixture
def cli_env(isolated_env: dict[str, str]) -> dict[str, str]:
    """Environment for Cookiecutter subprocesses: private HOME and temp folder."""
    return dict(isolated_env)


# The test files that take longest (seconds of one worker, from `pytest --durations=0`), run first:
# two workers each take the next file when they finish one (`--dist loadfile
# --no-loadscope-reorder` in the Makefile), so the long ones do not end the suite on one worker
# while the other waits. Files not listed follow, in collection order.
LONGEST_FIRST = (
    "tests/e2e/test_spark.py",  # 380
    "tests/e2e/test_generated_project.py",  # 320
    "tests/e2e/test_real_partitions.py",  # 220
    "tests/e2e/test_concurrent_runs.py",  # 170
    "tests/e2e/test_automation.py",  # 160
    "tests/e2e/test_steps_on_other_hosts.py",  # 130
    "tests/e2e/test_postgres.py",  # 130
    "tests/e2e/test_reliability.py",  # 125
    "tests/e2e/test_tutorial.py",  # 120
    "tests/e2e/test_own_project_suite.py",  # 115
    "tests/e2e/test_broken_models.py",  # 110
    "tests/e2e/test_selection.py",  # 110
    "tests/e2e/test_own_sqlmesh_project.py",  # 110
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {path: number for number, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))
