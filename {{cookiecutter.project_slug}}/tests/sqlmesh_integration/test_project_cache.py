"""Definitions read the SQLMesh project from a cache keyed by its content: any change is seen.

Each test edits one kind of file of a copy of this project's SQLMesh project
and loads it again with real SQLMesh.
"""

import shutil
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.sqlmesh_integration import SQLMeshResource
from {{ cookiecutter.package_name }}.sqlmesh_integration.project.definitions_cache import (
    ProjectDefinitions,
    forget_held,
)
from {{ cookiecutter.package_name }}.sqlmesh_integration.vocabulary.diagnostics import SQLMeshProjectError

SQLMESH_PROJECT = Path(__file__).resolve().parents[2] / "sqlmesh_project"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    copy = tmp_path / "sqlmesh_project"
    shutil.copytree(SQLMESH_PROJECT, copy, ignore=shutil.ignore_patterns(".cache", "logs", "__pycache__"))
    monkeypatch.setenv("WAREHOUSE_PATH", str(tmp_path / "warehouse.duckdb"))
    return copy


def load(project: Path) -> ProjectDefinitions:
    """The definitions as a new process (a code server, a run worker) reads them."""
    forget_held()
    return SQLMeshResource(project_dir=str(project)).load_definitions()


def model(definitions: ProjectDefinitions, name: str):
    (found,) = (m for m in definitions.models.values() if m.name == name)
    return found


def replace(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} is not in {path}"
    path.write_text(text.replace(old, new))


def test_an_unchanged_project_is_read_back_as_it_was_loaded(project: Path):
    loaded = load(project)
    cached = load(project)
    assert not loaded.from_cache and cached.from_cache
    assert (cached.path, cached.default_catalog, cached.warehouse_kind) == (
        loaded.path,
        loaded.default_catalog,
        loaded.warehouse_kind,
    )
    assert {fqn: (m.data_hash, m.metadata_hash) for fqn, m in cached.models.items()} == {
        fqn: (m.data_hash, m.metadata_hash) for fqn, m in loaded.models.items()
    }
    customers = model(cached, "marts.customers")
    assert customers.columns_to_types == model(loaded, "marts.customers").columns_to_types
    assert customers.column_descriptions["email"] == "Contact email address"


def test_one_process_reads_the_same_content_once_and_still_sees_a_change(project: Path):
    """The assets, the schedules and the automation all ask while the code location loads."""
    resource = SQLMeshResource(project_dir=str(project))
    first = load(project)
    assert resource.load_definitions() is first

    customers = project / "models" / "marts" / "customers.sql"
    replace(customers, "One row per customer with", "Every customer with")
    changed = resource.load_definitions()
    assert changed is not first
    assert model(changed, "marts.customers").description.startswith("Every customer")
    assert resource.load_definitions() is changed


def append(path: Path, text: str) -> None:
    path.write_text(path.read_text() + text)


def test_a_change_to_any_file_of_the_project_is_seen(project: Path):
    load(project)
    edits = {
        "model": lambda: replace(
            project / "models" / "marts" / "customers.sql", "One row per customer with", "Every customer with"
        ),
        "Python model": lambda: replace(
            project / "models" / "marts" / "customer_segments.py", "Marketing segment of", "The segment of"
        ),
        "macro": lambda: append(project / "macros" / "money.py", "\n# edited\n"),
        "audit": lambda: append(project / "audits" / "assert_positive_amounts.sql", "\n-- edited\n"),
        "seed": lambda: append(
            project / "seeds" / "customers.csv", "999,Ada,Lovelace,ada@example.com,2024-02-01\n"
        ),
        "config": lambda: append(project / "config.py", "\n# edited\n"),
        "new external model": lambda: (project / "external_models.yaml").write_text(
            "- name: landing.events\n  columns:\n    id: int\n"
        ),
    }
    for kind, edit in edits.items():
        edit()
        assert not load(project).from_cache, f"a changed {kind} was not seen"
    changed = load(project)
    assert changed.from_cache
    assert model(changed, "marts.customers").description.startswith("Every customer")
    assert model(changed, "marts.customer_segments").description.startswith("The segment of")
    assert model(changed, "landing.events").kind.is_external


{%- if cookiecutter.warehouse == "duckdb" %}


def test_an_environment_variable_the_config_reads_is_part_of_the_key(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    load(project)
    monkeypatch.setenv("WAREHOUSE_PATH", str(tmp_path / "elsewhere.duckdb"))
    moved = load(project)
    assert not moved.from_cache
    assert moved.default_catalog == "elsewhere"
{%- endif %}


def test_an_unreadable_cache_entry_means_a_load(project: Path):
    load(project)
    (entry,) = (project / ".cache" / "dagster_definitions").glob("*.pickle.gz")
    entry.write_bytes(b"not a cache entry")
    again = load(project)
    assert not again.from_cache
    assert model(again, "marts.customers")


def test_a_project_that_does_not_load_says_why_and_not_that_its_cache_entry_is_missing(project: Path):
    """The cache is read first and has no entry for a changed project: the error is the project's own."""
    append(project / "config.py", "\nUNDEFINED_IN_CONFIG\n")
    with pytest.raises(SQLMeshProjectError) as raised:
        load(project)
    message = str(raised.value)
    assert "name 'UNDEFINED_IN_CONFIG' is not defined" in message
    assert "dagster_definitions" not in message
