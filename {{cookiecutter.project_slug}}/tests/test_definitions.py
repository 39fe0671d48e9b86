"""The Dagster definitions load, and mirror the SQLMesh project exactly."""

from dagster import AssetKey, Definitions

from {{ cookiecutter.package_name }}.definitions import defs, sqlmesh
{%- if not cookiecutter.sqlmesh_project_path %}
from {{ cookiecutter.package_name }}.ingestion import revenue_targets
{%- endif %}
from {{ cookiecutter.package_name }}.sqlmesh_integration import SQLMeshTranslator, is_asset_model

translator = SQLMeshTranslator().for_catalog(sqlmesh.load_definitions().default_catalog)


def _sqlmesh_models():
    context = sqlmesh.load_context()
    return {
        translator.get_asset_key(model.fqn): model
        for model in context.models.values()
        if is_asset_model(model)
    }


def test_definitions_load():
    Definitions.validate_loadable(defs)


{%- if cookiecutter.sqlmesh_project_path %}


def test_one_asset_per_sqlmesh_model():
    graph = defs.resolve_asset_graph()
    assert set(graph.materializable_asset_keys) == set(_sqlmesh_models())
{%- else %}


def test_one_asset_per_sqlmesh_model_beside_the_python_assets():
    graph = defs.resolve_asset_graph()
    assert set(graph.materializable_asset_keys) == set(_sqlmesh_models()) | {revenue_targets.key}


def test_a_table_written_by_a_python_asset_is_that_asset_upstream_of_sqlmesh():
    """The external model and the asset writing it share one key: an edge, not a duplicate."""
    context = sqlmesh.load_context()
    external = [model for model in context.models.values() if model.kind.is_external]
    assert [translator.get_asset_key(model.fqn) for model in external] == [revenue_targets.key]
    graph = defs.resolve_asset_graph()
    assert graph.get(revenue_targets.key).is_materializable
    assert AssetKey(["marts", "revenue_vs_target"]) in graph.get(revenue_targets.key).child_keys
{%- endif %}


def test_asset_dependencies_are_sqlmesh_lineage():
    graph = defs.resolve_asset_graph()
    for key, model in _sqlmesh_models().items():
        expected = {translator.get_asset_key(fqn) for fqn in model.depends_on}
        assert set(graph.get(key).parent_keys) == expected, key


def test_audits_are_asset_checks():
    graph = defs.resolve_asset_graph()
    for key, model in _sqlmesh_models().items():
        expected = {use.check_name for use in translator.get_audit_uses(model)}
        assert {check.name for check in graph.get(key).check_keys} == expected, key


def test_assets_carry_sqlmesh_metadata():
    specs = {spec.key: spec for spec in defs.resolve_all_asset_specs()}
    for key, model in _sqlmesh_models().items():
        spec = specs[key]
        assert spec.code_version == model.data_hash
        assert spec.group_name == model.schema_name  # one group per SQLMesh schema, as SQLMesh names it
        assert {"sqlmesh", "{{ cookiecutter.warehouse }}"} <= set(spec.kinds)
        assert spec.metadata["sqlmesh/model_name"] == model.name


def test_asset_key_convention():
    """The default catalog is left out of keys; another catalog stays in them."""
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
