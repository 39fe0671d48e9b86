"""Real runs{% if not cookiecutter.sqlmesh_project_path %} of the sample{% endif %}: Dagster, SQLMesh and the warehouse, on scratch storage.

One run of every asset without partitions (what ``make run`` does)
{%- if not cookiecutter.sqlmesh_project_path %}, and one of
a range of days of the partitioned ones (``make run PARTITION=first...last``){% endif %}."""

{% if not cookiecutter.sqlmesh_project_path -%}
from contextlib import closing

{% endif -%}
{% if cookiecutter.warehouse == "postgres" -%}
import pytest
{% endif -%}
from dagster import AssetKey, DagsterInstance

from {{ cookiecutter.package_name }}.definitions import defs{% if not cookiecutter.sqlmesh_project_path %}, sqlmesh{% endif %}
{%- if not cookiecutter.sqlmesh_project_path %}

PAGE_VIEWS = AssetKey(["web", "page_views"])
DAILY_TRAFFIC = AssetKey(["web", "daily_traffic"])
CUSTOMERS = AssetKey(["marts", "customers"])
PAGES = 5  # rows of web.page_views per day
# SQLMesh's column lineage of marts.customers: number_of_orders (COUNT(*)) comes from no column.
CUSTOMERS_LINEAGE = {
    "customer_id": [("staging/stg_customers", "customer_id")],
    "full_name": [("staging/stg_customers", "full_name")],
    "email": [("staging/stg_customers", "email")],
    "signup_date": [("staging/stg_customers", "signup_date")],
    "first_order_date": [("staging/stg_orders", "order_date")],
    "most_recent_order_date": [("staging/stg_orders", "order_date")],
    "lifetime_value": [("staging/stg_payments", "amount")],
}
{%- if cookiecutter.sample_pipeline == "demo" %}

# The failure_demo group fails on purpose (docs/tutorial.md walks through it).
FAILS_AT_EXECUTION = AssetKey(["failure_demo", "orders_with_bad_cast"])
FAILS_BLOCKING_AUDIT = AssetKey(["failure_demo", "orders_failing_blocking_audit"])
WARNS = AssetKey(["failure_demo", "orders_failing_warning_audit"])
NOT_RUN = {
    AssetKey(["failure_demo", "bad_cast_summary"]),
    AssetKey(["failure_demo", "bad_cast_report"]),
    AssetKey(["failure_demo", "after_blocking_audit"]),
}
{%- endif %}
{%- endif %}


def unpartitioned_assets() -> list[AssetKey]:
    graph = defs.resolve_asset_graph()
    return [key for key in graph.materializable_asset_keys if graph.get(key).partitions_def is None]


def sqlmesh_executions(instance: DagsterInstance, run_id: str) -> int:
    return sum(
        record.user_message.startswith("SQLMesh execution for run") for record in instance.all_logs(run_id)
    )


def check_results(result) -> dict:
    """(asset key, check name) -> passed, for every check that reported in the run."""
    evaluations = [
        event.asset_check_evaluation_data
        for event in result.all_events
        if event.event_type_value == "ASSET_CHECK_EVALUATION"
    ]
    return {(check.asset_key, check.check_name): check.passed for check in evaluations}


{%- if cookiecutter.sqlmesh_project_path %}


{% if cookiecutter.warehouse == "postgres" -%}
@pytest.mark.usefixtures("fresh_warehouse")
{% endif -%}
def test_every_unpartitioned_asset_in_one_run_of_one_sqlmesh_execution():
    """Your SQLMesh project, run once through Dagster on a copy of it (see conftest.py)."""
    instance = DagsterInstance.ephemeral()
    assets = unpartitioned_assets()
    job = defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(instance=instance, asset_selection=assets, raise_on_error=False)

    failures = [event.event_specific_data.error.message for event in result.get_step_failure_events()]
    assert result.success, failures
    assert sqlmesh_executions(instance, result.run_id) == 1
    assert {event.asset_key for event in result.get_asset_materialization_events()} == set(assets)
    assert all(check_results(result).values())
{%- else %}


{% if cookiecutter.warehouse == "postgres" -%}
@pytest.mark.usefixtures("fresh_warehouse")
{% endif -%}
def test_every_unpartitioned_asset_in_one_run():
    instance = DagsterInstance.ephemeral()
    all_assets = set(unpartitioned_assets())
    job = defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(instance=instance, asset_selection=list(all_assets), raise_on_error=False)

    materialized = {event.asset_key for event in result.get_asset_materialization_events()}
    failed_steps = {event.step_key for event in result.get_step_failure_events()}
    checks = check_results(result)
    assert sqlmesh_executions(instance, result.run_id) == 1
    assert PAGE_VIEWS not in all_assets
    (customers,) = [e for e in result.get_asset_materialization_events() if e.asset_key == CUSTOMERS]
    lineage = customers.materialization.metadata["dagster/column_lineage"].value
    assert {
        column: [(dep.asset_key.to_user_string(), dep.column_name) for dep in deps]
        for column, deps in lineage.deps_by_column.items()
    } == CUSTOMERS_LINEAGE
    # SQLMesh's environment now holds the project's own version of each model the run
    # planned (external parents included), so the next run has nothing to plan.
    context = sqlmesh.load_context()
    try:
        deployed = context.state_reader.get_environment(sqlmesh.environment).snapshots
        assert {s.name for s in deployed if s.snapshot_id != context.snapshots[s.name].snapshot_id} == set()
    finally:
        context.close()  # DuckDB: one process holds the file at a time
{%- if cookiecutter.sample_pipeline == "demo" %}
    assert not result.success
    assert failed_steps == {
        FAILS_AT_EXECUTION.to_python_identifier(),
        FAILS_BLOCKING_AUDIT.to_python_identifier(),
    }
    # A blocking audit fails after SQLMesh has written the rows: materialized, then failed.
    assert materialized == all_assets - NOT_RUN - {FAILS_AT_EXECUTION}
    assert False in [passed for (key, _), passed in checks.items() if key == FAILS_BLOCKING_AUDIT]
    assert False in [passed for (key, _), passed in checks.items() if key == WARNS]
    healthy = {key for key in all_assets if key.path[0] != "failure_demo"}
    assert all(passed for (key, _), passed in checks.items() if key in healthy)
{%- else %}
    assert result.success
    assert not failed_steps
    assert materialized == all_assets
    assert checks and all(checks.values())
{%- endif %}


{% if cookiecutter.warehouse == "postgres" -%}
@pytest.mark.usefixtures("fresh_warehouse")
{% endif -%}
def test_a_range_of_days_is_one_run_that_fills_exactly_those_days():
    instance = DagsterInstance.ephemeral()
    job = defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(
        instance=instance,
        asset_selection=[PAGE_VIEWS, DAILY_TRAFFIC],
        tags={
            "dagster/asset_partition_range_start": "2024-03-01",
            "dagster/asset_partition_range_end": "2024-03-03",
        },
    )

    assert sqlmesh_executions(instance, result.run_id) == 1
    days = ["2024-03-01", "2024-03-02", "2024-03-03"]
    for key in (PAGE_VIEWS, DAILY_TRAFFIC):
        partitions = [
            event.partition for event in result.get_asset_materialization_events() if event.asset_key == key
        ]
        assert sorted(partitions) == days
    assert all(check_results(result).values())
    with closing(defs.resources["warehouse"].connect()) as connection:
        cursor = connection.cursor()
        cursor.execute("SELECT CAST(view_date AS TEXT), COUNT(*) FROM web.page_views GROUP BY 1 ORDER BY 1")
        assert cursor.fetchall() == [(day, PAGES) for day in days]
{%- endif %}
