"""The Dagster definitions load, and mirror the SQLMesh project exactly.

What each test expects is worked out from SQLMesh's own view of the project
(``sqlmesh_expectations.py``), never from the integration's code: a failure
names an asset whose definition is not what SQLMesh's project calls for.
"""

import gc
import importlib.util
from collections import Counter

import pytest
from dagster import AssetKey, Definitions
from sqlmesh import Context
from sqlmesh_expectations import (
    ExpectedCheck,
    ExpectedDefinitions,
{%- if not cookiecutter.sqlmesh_project_path %}
    asset_key,
{%- endif %}
    check_name,
    expected_definitions,
)

from {{ cookiecutter.package_name }}.definitions import PRELOADED_FOR_STEPS, defs, sqlmesh
{%- if not cookiecutter.sqlmesh_project_path %}
from {{ cookiecutter.package_name }}.ingestion import revenue_targets
{%- endif %}
from {{ cookiecutter.package_name }}.sqlmesh_integration import SQLMeshTranslator
from {{ cookiecutter.package_name }}.sqlmesh_integration.vocabulary.constants import AUDIT_METADATA

# SQLMesh's default catalog, as it named it when the definitions loaded (the warehouse is not asked again).
DEFAULT_CATALOG = sqlmesh.load_definitions().default_catalog


@pytest.fixture(scope="module")
def context() -> Context:
    """SQLMesh's own view of the project, loaded when these tests run, not when they are collected: a
    process that has loaded a project must not go on to run another's tests that fork SQLMesh."""
    return sqlmesh.load_context()


@pytest.fixture(scope="module")
def expected(context: Context) -> ExpectedDefinitions:
    return expected_definitions(context, DEFAULT_CATALOG, sqlmesh.select, sqlmesh.exclude)


def _checks_defined() -> Counter[ExpectedCheck]:
    """Every check of the definitions, as the audit it reports (its metadata) on its asset."""
    graph = defs.resolve_asset_graph()
    specs = [graph.get_check_spec(key) for key in graph.asset_check_keys]
    return Counter(
        ExpectedCheck(spec.asset_key, str(spec.metadata.get(AUDIT_METADATA)), spec.blocking) for spec in specs
    )


def test_definitions_load():
    Definitions.validate_loadable(defs)


{%- if cookiecutter.sqlmesh_project_path %}


def test_one_asset_per_sqlmesh_model(expected):
    graph = defs.resolve_asset_graph()
    assert set(graph.materializable_asset_keys) == set(expected.models)
{%- else %}


def test_one_asset_per_sqlmesh_model_beside_the_python_assets(expected):
    graph = defs.resolve_asset_graph()
    assert set(graph.materializable_asset_keys) == set(expected.models) | {revenue_targets.key}


def test_a_table_written_by_a_python_asset_is_that_asset_upstream_of_sqlmesh(context):
    """The external model and the asset writing it share one key: an edge, not a duplicate."""
    external = [model for model in context.models.values() if model.kind.is_external]
    assert [asset_key(model.fqn, DEFAULT_CATALOG) for model in external] == [revenue_targets.key]
    graph = defs.resolve_asset_graph()
    assert graph.get(revenue_targets.key).is_materializable
    assert AssetKey(["marts", "revenue_vs_target"]) in graph.get(revenue_targets.key).child_keys
{%- endif %}


def test_asset_dependencies_are_sqlmesh_lineage(expected):
    """SQLMesh's depends_on, with each EMBEDDED model replaced by what it reads (SQLMesh inlines it)."""
    graph = defs.resolve_asset_graph()
    defined = {key: set(graph.get(key).parent_keys) for key in expected.models}
    assert defined == expected.deps


def test_audits_are_asset_checks(expected):
    """Each audit of a model or source is a check on it; a standalone audit, one on each asset it reads."""
    assert _checks_defined() == expected.checks
    # An audit used once on an asset is a check of its name (twice, the names tell the arguments apart).
    graph = defs.resolve_asset_graph()
    named = {(key.asset_key, key.name) for key in graph.asset_check_keys}
    once = [check for check, uses in expected.checks.items() if uses == 1]
    assert {(check.asset, check_name(check.audit)) for check in once} <= named


def test_assets_carry_sqlmesh_metadata(expected):
    specs = {spec.key: spec for spec in defs.resolve_all_asset_specs()}
    for key, model in expected.models.items():
        spec = specs[key]
        assert spec.code_version == model.data_hash
        assert spec.group_name == model.schema_name  # one group per SQLMesh schema, as SQLMesh names it
        assert {"sqlmesh", "{{ cookiecutter.warehouse }}"} <= set(spec.kinds)
        assert spec.metadata["sqlmesh/model_name"] == model.name


def test_asset_key_convention():
    """The default catalog is left out of keys; another catalog stays in them."""
    translator = SQLMeshTranslator().for_catalog(DEFAULT_CATALOG)
    catalog = translator.default_catalog
    assert translator.get_asset_key(f'"{catalog}"."marts"."orders"') == AssetKey(["marts", "orders"])
    assert translator.get_asset_key('"other"."marts"."orders"') == AssetKey(["other", "marts", "orders"])
{%- if not cookiecutter.sqlmesh_project_path %}


def test_checks_block_exactly_when_sqlmesh_blocks():
    blocking = {
        (check.key.asset_key.to_user_string(), check.key.name): check.blocking
        for assets_def in defs.assets
        for check in assets_def.check_specs
    }
    assert blocking[("marts/orders", "unique_values")] is True
    assert blocking[("marts/orders", "accepted_range_non_blocking")] is False  # a _non_blocking built-in
    assert blocking[("marts/daily_revenue", "accepted_range")] is False  # `blocking := false` on the model
    # The same audit used twice: each use is named by its arguments.
    assert blocking[("marts/customers", "not_null__customer_id__full_name__email")] is True
    assert blocking[("marts/customers", "not_null__number_of_orders__lifetime_value")] is True


def test_the_partitioned_models_are_partitioned_by_day_from_the_start_date():
    graph = defs.resolve_asset_graph()
    partitioned = {key for key in graph.materializable_asset_keys if graph.get(key).partitions_def}
    assert partitioned == {AssetKey(["web", "page_views"]), AssetKey(["web", "daily_traffic"])}
    days = graph.get(AssetKey(["web", "page_views"])).partitions_def
    assert days == graph.get(AssetKey(["web", "daily_traffic"])).partitions_def  # so they run together
    assert days.get_first_partition_key() == "{{ cookiecutter.start_date }}"


def test_schedules_run_every_model_and_what_it_reads():
    graph = defs.resolve_asset_graph()
    partitioned = {key for key in graph.materializable_asset_keys if graph.get(key).partitions_def}
    schedule = defs.resolve_schedule_def("sqlmesh_run_schedule")
    assert schedule.cron_schedule == "@daily"  # the most frequent cron of the models
    job = defs.resolve_job_def("sqlmesh_run")
    assert job.asset_layer.selected_asset_keys == set(graph.materializable_asset_keys) - partitioned
    # The days have a schedule of their own, which asks for each day once it has ended.
    (by_day,) = [schedule for schedule in defs.schedules if schedule.name != "sqlmesh_run_schedule"]
    assert defs.resolve_job_def(by_day.job_name).asset_layer.selected_asset_keys == partitioned
{%- endif %}


def test_what_the_code_location_built_is_out_of_the_garbage_collectors_reach():
    """Frozen, the definitions are not traversed again by each full collection (docs/adr/0002)."""
    collectable = gc.get_objects()
    assert not any(found is defs or found is sqlmesh for found in collectable)


def test_each_module_preloaded_for_multiprocess_steps_imports():
    """The forkserver skips a module it cannot import, silently: steps would start slower, not fail."""
    for name in PRELOADED_FOR_STEPS:
        if name != "dagster_postgres" or importlib.util.find_spec(name):  # a deployment's extra
            importlib.import_module(name)
