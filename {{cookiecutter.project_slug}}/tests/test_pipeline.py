"""A real run of every asset: Dagster, SQLMesh and the warehouse, on scratch storage."""

{% if cookiecutter.warehouse == "postgres" -%}
import pytest
{% endif -%}
from dagster import {% if cookiecutter.sample_pipeline == "demo" %}AssetKey, {% endif %}DagsterInstance

from {{ cookiecutter.package_name }}.definitions import defs
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


def check_results(result) -> dict:
    """(asset key, check name) -> passed, for every check that reported in the run."""
    evaluations = [
        event.asset_check_evaluation_data
        for event in result.all_events
        if event.event_type_value == "ASSET_CHECK_EVALUATION"
    ]
    return {(check.asset_key, check.check_name): check.passed for check in evaluations}


{% if cookiecutter.warehouse == "postgres" -%}
@pytest.mark.usefixtures("fresh_warehouse")
{% endif -%}
def test_materialize_everything_once():
    instance = DagsterInstance.ephemeral()
    job = defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(instance=instance, raise_on_error=False)

    all_assets = set(defs.resolve_asset_graph().materializable_asset_keys)
    materialized = {event.asset_key for event in result.get_asset_materialization_events()}
    failed_steps = {event.step_key for event in result.get_step_failure_events()}
    checks = check_results(result)
    executions = [
        record
        for record in instance.all_logs(result.run_id)
        if record.user_message.startswith("SQLMesh execution for run")
    ]
    assert len(executions) == 1
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
