"""``include_metadata`` in ``defs.yaml``: each optional kind of metadata on or off.

Loaded from real ``defs.yaml`` files (Dagster's sandbox for component tests)
and run with real SQLMesh on a DuckDB file: a table and a mart reading it,
so a materialization carries a row count, column lineage and SQLMesh's details.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest
from component_sandbox import duckdb_project, load_components
from dagster import AssetKey, DagsterInstance, Definitions

from {{ cookiecutter.package_name }}.sqlmesh_integration.vocabulary.include_metadata import counts_rows

MART = AssetKey(["marts", "doubled"])

MODELS = {
    "orders": "MODEL (name raw.orders, kind FULL);\nSELECT 1 AS id UNION ALL SELECT 2 AS id",
    "doubled": "MODEL (name marts.doubled, kind FULL);\nSELECT id, id * 2 AS twice FROM raw.orders",
}

# What each setting, turned off, takes away: from the mart's materialization, or from its asset.
# The keys are spelled out: Dagster's UI gives the dagster/ ones their meaning (a row count, a
# table's columns, their lineage), and users' sensors and queries read the sqlmesh/ ones.
TAKES_AWAY = {
    "row_count": {"dagster/row_count"},
    "column_lineage": {"dagster/column_lineage"},
    # Evaluated in the run: no "sqlmesh/covered_until", which an up-to-date model carries.
    "sqlmesh_details": {
        "sqlmesh/snapshot_version",
        "sqlmesh/physical_table",
        "sqlmesh/intervals",
        "sqlmesh/duration_s",
    },
    "column_schema": {"dagster/column_schema"},
}


def sqlmesh_project(root: Path) -> Path:
    return duckdb_project(root, MODELS)


def load(project_dir: Path, **attributes: object) -> Iterator[Definitions]:
    """The definitions of a defs folder whose one ``defs.yaml`` has these attributes."""
    yield from load_components(project_dir, {"shop": attributes})


def what_the_mart_carries(defs: Definitions) -> set[str]:
    """The metadata keys of the mart's asset and of its materialization in a run of everything."""
    result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=DagsterInstance.ephemeral()
    )
    assert result.success
    (materialization,) = [m for m in result.asset_materializations_for_node("marts__doubled")]
    return set(materialization.metadata) | set(defs.resolve_asset_graph().get(MART).metadata)


@pytest.fixture(scope="module")
def by_default(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    (defs,) = load(sqlmesh_project(tmp_path_factory.mktemp("default")))
    return what_the_mart_carries(defs)


def test_everything_is_on_by_default_on_duckdb(by_default):
    expected = {"sqlmesh/status", "dagster/table_name"}.union(*TAKES_AWAY.values())
    assert expected <= by_default


@pytest.mark.parametrize("setting", sorted(TAKES_AWAY))
def test_each_setting_turned_off_takes_its_metadata_away(tmp_path, by_default, setting):
    (defs,) = load(sqlmesh_project(tmp_path), include_metadata={setting: False})

    carried = what_the_mart_carries(defs)

    assert by_default - carried == TAKES_AWAY[setting]


def test_row_counts_are_off_by_default_on_postgresql_only():
    assert counts_rows(None, "duckdb") and not counts_rows(None, "postgres")
    assert counts_rows(True, "postgres") and not counts_rows(False, "duckdb")


def test_the_setting_reaches_the_resource_that_counts(tmp_path):
    (defs,) = load(sqlmesh_project(tmp_path), include_metadata={"row_count": True})
    assert defs.resources["shop"].row_count is True
    (unset,) = load(sqlmesh_project(tmp_path / "unset"))
    assert unset.resources["shop"].row_count is None


def test_an_unknown_kind_fails_naming_the_file(tmp_path):
    with pytest.raises(Exception, match=r"shop[\s\S]*defs\.yaml") as failure:
        list(load(sqlmesh_project(tmp_path), include_metadata={"row_counts": False}))
    causes = []
    error: BaseException | None = failure.value
    while error is not None:
        causes.append(str(error))
        error = error.__cause__
    assert any("row_counts" in cause for cause in causes), causes
