"""``select`` and ``exclude`` in ``defs.yaml``: two components split one SQLMesh project.

Loaded from real ``defs.yaml`` files (Dagster's sandbox for component tests)
and run with real SQLMesh on one DuckDB file: ``ingest`` selects the raw
models, ``reporting`` what is below them without them (``raw.orders+``
excluding ``raw.*``). Each run evaluates its own models only: the raw table
records when it was built, and a run of ``reporting`` leaves it as it was.
"""

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from component_sandbox import duckdb_project, load_components
from dagster import AssetKey, DagsterInstance, Definitions

from {{ cookiecutter.package_name }}.sqlmesh_integration.vocabulary.constants import PROJECT_OP_TAG

MODELS = {
    "orders": "MODEL (name raw.orders, kind FULL);\n"
    "SELECT 1 AS id, 10 AS amount, CAST(now() AS TEXT) AS built_at "
    "UNION ALL SELECT 2, 5, CAST(now() AS TEXT)",
    "customers": "MODEL (name raw.customers, kind FULL, tags (pii));\nSELECT 1 AS id, 'Ana' AS name",
    "revenue": "MODEL (name marts.revenue, kind FULL);\nSELECT SUM(amount) AS total FROM raw.orders",
}
SPLIT = {
    "ingest": {"select": "raw.*"},
    "reporting": {"select": "raw.orders+", "exclude": "raw.*"},
}
ORDERS, CUSTOMERS, REVENUE = (
    AssetKey(["raw", "orders"]),
    AssetKey(["raw", "customers"]),
    AssetKey(["marts", "revenue"]),
)


def sqlmesh_project(root: Path) -> Path:
    return duckdb_project(root, MODELS)


def load(project_dir: Path, components: dict[str, dict]) -> Iterator[Definitions]:
    """The definitions of a defs folder with one ``defs.yaml`` per component, all on ``project_dir``."""
    yield from load_components(project_dir, components)


@pytest.fixture
def split(tmp_path: Path) -> Iterator[Definitions]:
    yield from load(sqlmesh_project(tmp_path), SPLIT)


def run(defs: Definitions, component: str, instance: DagsterInstance, mode: str = "run"):
    """A run of every asset of ``component``, and of nothing else; ``mode``: run or restate."""
    return defs.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=instance,
        asset_selection=sorted(assets_of(defs)[component], key=str),
        raise_on_error=False,
        tags={"sqlmesh/mode": mode},
    )


def assets_of(defs: Definitions) -> dict[str, set[AssetKey]]:
    """Each component's assets, by the project name its ops are tagged with."""
    graph = defs.resolve_asset_graph()
    owners: dict[str, set[AssetKey]] = {}
    for key in graph.materializable_asset_keys:
        owners.setdefault(defs.resolve_assets_def(key).op.tags[PROJECT_OP_TAG], set()).add(key)
    return owners


def raw_tables(tmp_path: Path) -> list[tuple]:
    """The tables of the raw schema, as users see them (its views), in the warehouse."""
    with duckdb.connect(str(tmp_path / "shop.duckdb"), read_only=True) as connection:
        return connection.sql(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'raw'"
        ).fetchall()


def built_at(tmp_path: Path) -> list[tuple]:
    with duckdb.connect(str(tmp_path / "shop.duckdb"), read_only=True) as connection:
        return connection.sql("SELECT id, built_at FROM raw.orders ORDER BY id").fetchall()


def test_each_component_defines_its_own_models_and_depends_on_the_others(split):
    graph = split.resolve_asset_graph()

    assert assets_of(split) == {"ingest": {ORDERS, CUSTOMERS}, "reporting": {REVENUE}}
    # The mart's dependency is the raw component's asset: one graph across both.
    assert graph.get(REVENUE).parent_keys == {ORDERS}
    # Each component's schedule runs its own models (after what they read, as for ingestion assets).
    assert split.resolve_job_def("ingest_run").asset_layer.selected_asset_keys == {ORDERS, CUSTOMERS}


def test_each_run_evaluates_only_its_own_models(split, tmp_path):
    instance = DagsterInstance.ephemeral()

    # Nothing built yet: the mart is blocked, naming what to materialize where; raw.orders is not built.
    early = run(split, "reporting", instance)
    assert not early.success
    (failure,) = [event for event in early.all_events if event.is_step_failure]
    message = failure.step_failure_data.error.message
    assert "reads raw.orders, which has no table" in message
    assert "not this component's to build" in message
    assert "materialize them with the component that selects them" in message
    assert raw_tables(tmp_path) == []

    ingested = run(split, "ingest", instance)
    assert ingested.success
    assert {event.asset_key for event in ingested.get_asset_materialization_events()} == {ORDERS, CUSTOMERS}
    before = built_at(tmp_path)

    # Restated: SQLMesh evaluates again whatever the execution selects, complete or not (a run
    # would find raw.orders complete for the day and leave it alone even if it were selected).
    reported = run(split, "reporting", instance, mode="restate")
    assert reported.success
    (materialization,) = reported.get_asset_materialization_events()
    assert materialization.asset_key == REVENUE
    assert materialization.materialization.metadata["sqlmesh/status"].value == "evaluated in this run"
    assert built_at(tmp_path) == before  # raw.orders was not evaluated again
    with duckdb.connect(str(tmp_path / "shop.duckdb"), read_only=True) as connection:
        assert connection.sql("SELECT total FROM marts.revenue").fetchone() == (15,)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"select": "tag:"}, "select 'tag:' is not a SQLMesh selector SQLMesh can read"),
        ({"select": "marts.nothing"}, "select 'marts.nothing' matches no model"),
        ({"exclude": "(raw.orders"}, "exclude '(raw.orders' is not a SQLMesh selector"),
        ({"select": "raw.*", "exclude": "raw.*"}, "leave no model"),
    ],
)
def test_a_bad_selection_fails_naming_the_file_and_value(tmp_path, settings, message):
    with pytest.raises(Exception, match=r"defs\.yaml") as failure:
        list(load(sqlmesh_project(tmp_path), {"shop": settings}))
    causes = []
    error: BaseException | None = failure.value
    while error is not None:
        causes.append(str(error))
        error = error.__cause__
    assert any(message in cause and "defs.yaml" in cause for cause in causes), causes


def test_a_tag_selects_by_sqlmesh_tag(tmp_path):
    (defs,) = load(sqlmesh_project(tmp_path), {"pii": {"select": "tag:pii"}})
    assert defs.resolve_asset_graph().materializable_asset_keys == {CUSTOMERS}


def test_a_run_of_both_components_executes_each_once_for_its_own_models(split, tmp_path):
    """The reporting schedule's job runs what it reads first: ingest's execution, then its own."""
    instance = DagsterInstance.ephemeral()
    job = split.resolve_job_def("reporting_run")
    assert job.asset_layer.selected_asset_keys == {ORDERS, REVENUE}  # its models and what they read

    result = job.execute_in_process(instance=instance)

    assert result.success
    assert {event.asset_key for event in result.get_asset_materialization_events()} == {ORDERS, REVENUE}
    started = [
        record.user_message
        for record in instance.all_logs(result.run_id)
        if record.user_message.startswith("SQLMesh execution for run")
    ]
    assert len(started) == 2, started
    assert raw_tables(tmp_path) == [("orders",)]  # raw.customers is ingest's, and not in this run


def test_each_components_promotion_applies_its_own_changes_only(tmp_path):
    """Both components' models changed: reporting's promotion applies the mart's change, not ingest's."""
    project = sqlmesh_project(tmp_path)
    (defs,) = load(project, SPLIT)
    assert run(defs, "ingest", DagsterInstance.ephemeral()).success
    assert run(defs, "reporting", DagsterInstance.ephemeral()).success
    (project / "models" / "customers.sql").write_text(MODELS["customers"] + ", 'ana@example.com' AS email")
    (project / "models" / "revenue.sql").write_text(
        MODELS["revenue"].replace("SUM(amount)", "SUM(amount) * 2")
    )

    (defs,) = load(project, SPLIT)
    promotion = defs.resolve_job_def("reporting_promote").execute_in_process(
        instance=DagsterInstance.ephemeral()
    )

    assert promotion.success
    assert [event.asset_key for event in promotion.get_asset_materialization_events()] == [REVENUE]
    with duckdb.connect(str(tmp_path / "shop.duckdb"), read_only=True) as connection:
        assert connection.sql("SELECT total FROM marts.revenue").fetchone() == (30,)
        # ingest's change waits for ingest's promotion: prod's view still has the old columns.
        assert [column for (column, *_) in connection.sql("DESCRIBE raw.customers").fetchall()] == [
            "id",
            "name",
        ]
    (defs,) = load(project, SPLIT)
    assert (
        defs.resolve_job_def("ingest_promote")
        .execute_in_process(instance=DagsterInstance.ephemeral())
        .success
    )
    with duckdb.connect(str(tmp_path / "shop.duckdb"), read_only=True) as connection:
        assert [column for (column, *_) in connection.sql("DESCRIBE raw.customers").fetchall()] == [
            "id",
            "name",
            "email",
        ]
