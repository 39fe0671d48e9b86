"""``translation`` in ``defs.yaml``: each model's key, group, owners, tags, kinds and metadata as templates.

Loaded from real ``defs.yaml`` files (Dagster's sandbox for component tests),
on a small project of its own: an audited table and a mart that reads it.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest
from component_sandbox import duckdb_project, load_components
from dagster import AssetKey, DagsterInstance, Definitions, TableColumnDep

from {{ cookiecutter.package_name }}.sqlmesh_integration.vocabulary.constants import COLUMN_LINEAGE

MODELS = {
    "orders": """
        MODEL (
          name raw.orders, kind FULL, cron '@hourly', owner 'sales team', tags (pii),
          audits (not_null(columns := (id)))
        );
        SELECT 1 AS id, 10 AS amount
    """,
    "revenue": """
        MODEL (name marts.revenue, kind FULL, owner 'ana@example.com', tags (finance));
        SELECT SUM(amount) AS total FROM raw.orders
    """,
}

{% raw %}RENAMED = {
    "key": "shop/{{ model.schema }}/{{ model.table }}",
    "group_name": "sqlmesh_{{ model.schema }}",
    "owners": ["team:{{ model.schema }}"],
    "tags": {"sqlmesh_kind": "{{ model.kind | lower }}"},
    "kinds": ["sqlmesh", "duckdb", "table"],
    "description": "{{ model.name }}, every {{ model.cron }}",
    "metadata": {"source_file": "{{ model.path }}"},
}
{% endraw %}ORDERS = AssetKey(["shop", "raw", "orders"])
REVENUE = AssetKey(["shop", "marts", "revenue"])


def sqlmesh_project(root: Path) -> Path:
    return duckdb_project(root, MODELS)


def load(project_dir: Path, translation: dict | str) -> Iterator[Definitions]:
    """The definitions of a defs folder whose one ``defs.yaml`` has this ``translation``."""
    yield from load_components(project_dir, {"shop": {"translation": translation}})


@pytest.fixture
def renamed(tmp_path: Path) -> Iterator[Definitions]:
    yield from load(sqlmesh_project(tmp_path), RENAMED)


def test_the_templates_land_on_each_spec(renamed):
    graph = renamed.resolve_asset_graph()
    orders = graph.get(ORDERS)

    assert graph.materializable_asset_keys == {ORDERS, REVENUE}
    assert orders.group_name == "sqlmesh_raw"
    assert orders.owners == ["team:raw"]  # replaces the translator's "team:sales_team"
    tags = {name: value for name, value in orders.tags.items() if not name.startswith("dagster/kind/")}
    assert tags == {"pii": "", "sqlmesh_kind": "full"}  # added to the translator's
    assert orders.kinds == {"sqlmesh", "duckdb", "table"}
    assert orders.description == "raw.orders, every @hourly"
    assert orders.metadata["source_file"] == "shop/models/orders.sql"
    assert orders.metadata["sqlmesh/model_name"] == "raw.orders"  # the translator's metadata stays


def test_a_renamed_key_carries_its_checks_dependencies_and_lineage(renamed):
    graph = renamed.resolve_asset_graph()
    assert graph.get(REVENUE).parent_keys == {ORDERS}
    assert {check.asset_key for check in graph.asset_check_keys} == {ORDERS}

    instance = DagsterInstance.ephemeral()
    result = renamed.resolve_implicit_global_asset_job_def().execute_in_process(instance=instance)

    assert result.success
    (check,) = result.get_asset_check_evaluations()
    assert (check.asset_key, check.check_name, check.passed) == (ORDERS, "not_null", True)
    revenue = instance.get_latest_materialization_event(REVENUE).asset_materialization
    lineage = revenue.metadata[COLUMN_LINEAGE].value
    assert lineage.deps_by_column == {"total": [TableColumnDep(asset_key=ORDERS, column_name="amount")]}


def test_a_template_that_fails_names_the_file_and_the_model(tmp_path):
    with pytest.raises(Exception, match=r"shop[\s\S]*defs\.yaml") as failure:
        list(load(sqlmesh_project(tmp_path), {% raw %}{"key": "{{ model.nope.deeper }}"}{% endraw %}))
    causes = []
    error: BaseException | None = failure.value
    while error is not None:
        causes.append(str(error))
        error = error.__cause__
    named = [cause for cause in causes if "translation failed for model raw.orders" in cause]
    assert named and "shop/models/orders.sql" in named[0], causes
