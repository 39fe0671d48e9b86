"""Every selection Dagster offers does exactly what was selected, and outcomes stay honest at the edges.

Real Dagster runs of the baked demo on real DuckDB. Checks are selected the
way the UI's "Execute" on a check launches them: a run whose check selection
holds them and whose asset selection holds only the assets named. One built
warehouse, the session's ``demo_runs``, is shared by the tests that need one
(each run after it reads it and evaluates nothing, or restates what it
selected). The multiprocess executor is tested here where steps in separate
processes share what a run holds: the Python asset between SQLMesh models.
"""

import shutil

import pytest
from helpers.demo_outcomes import BLOCKING, evaluated, key, step
from helpers.project import IN_PROJECT, Scratch

pytestmark = pytest.mark.e2e

BLOCKING_AUDIT = f"{key(BLOCKING)}:failure_demo_no_returned_orders"
WARNING_AUDIT = "failure_demo/orders_failing_warning_audit:not_null_non_blocking"
RESTATE = {"sqlmesh/mode": "restate"}


@pytest.fixture
def built(demo_runs) -> Scratch:
    """The demo, materialized by the session's shared first runs (its failure_demo group fails as designed)."""
    assert demo_runs.first["status"] == "FAILURE"
    return demo_runs.scratch


def test_checks_alone_audit_existing_tables_and_evaluate_nothing(built):
    result = built.materialize(checks=["marts/customers:unique_values", BLOCKING_AUDIT, WARNING_AUDIT])

    assert result["executions"] == 1
    assert evaluated(result) == {}
    assert result["materialized"] == {}
    assert result["checks"] == {
        "marts/customers:unique_values": {"passed": True, "severity": "ERROR", "failing_rows": 0},
        # The rows a blocking audit rejected are in the table: auditing it alone finds them again.
        BLOCKING_AUDIT: {"passed": False, "severity": "ERROR", "failing_rows": 5},
        WARNING_AUDIT: {"passed": False, "severity": "WARN", "failing_rows": 2},
    }
    # A failed blocking audit fails its step; a warning does not.
    assert result["steps"] == {
        "marts__customers": "STEP_SUCCESS",
        step(BLOCKING): "STEP_FAILURE",
        "failure_demo__orders_failing_warning_audit": "STEP_SUCCESS",
    }


def test_an_asset_without_its_checks_is_materialized_without_check_results(built):
    result = built.materialize(select=["marts/customers", key(BLOCKING)], checks=[], tags=RESTATE)

    assert evaluated(result) == {"marts.customers": 1}  # the blocking-audit model raised: not "evaluated"
    assert result["checks"] == {}
    customers = result["materialized"]["marts/customers"]
    assert customers["sqlmesh/status"] == "evaluated in this run"
    assert "SQLMesh ran 4 audit(s)" in customers["sqlmesh/audits_not_selected"]
    assert "(all passed)" in customers["sqlmesh/audits_not_selected"]
    # The blocking audit still ran and still blocks: the rows are written, the step fails and says why.
    assert (
        "failed: failure_demo_no_returned_orders"
        in (result["materialized"][key(BLOCKING)]["sqlmesh/audits_not_selected"])
    )
    assert result["steps"] == {"marts__customers": "STEP_SUCCESS", step(BLOCKING): "STEP_FAILURE"}
    assert "blocking audit failure_demo_no_returned_orders" in result["failures"][step(BLOCKING)]
    assert "withheld the interval" in result["failures"][step(BLOCKING)]


def test_assets_and_checks_mixed_report_exactly_the_selection(built):
    result = built.materialize(
        select=["marts/orders"],
        checks=["marts/orders:unique_values", "marts/customers:accepted_range"],
        tags=RESTATE,
    )

    assert result["executions"] == 1
    assert evaluated(result) == {"marts.orders": 1}
    assert set(result["materialized"]) == {"marts/orders"}
    assert set(result["checks"]) == {"marts/orders:unique_values", "marts/customers:accepted_range"}
    assert all(check["passed"] for check in result["checks"].values())
    assert result["status"] == "SUCCESS"


def test_a_check_alone_on_an_empty_warehouse_says_to_materialize_first(demo_project, tmp_path):
    scratch = demo_project.scratch(tmp_path)
    result = scratch.materialize(checks=["marts/customers:unique_values"])

    assert evaluated(result) == {}
    assert result["materialized"] == {} and result["checks"] == {}
    message = result["failures"]["marts__customers"]
    assert "marts.customers has no table in SQLMesh environment 'prod' yet" in message
    assert "Materialize it first" in message


def test_a_subset_whose_upstream_was_never_built_names_the_missing_models(demo_project, tmp_path):
    scratch = demo_project.scratch(tmp_path)
    result = scratch.materialize(
        select=["raw/orders", "staging/stg_orders", "marts/customers", "marts/orders"]
    )

    assert result["executions"] == 1
    # What can be built is built; what reads a missing table is not attempted.
    assert evaluated(result) == {"raw.orders": 1, "staging.stg_orders": 1}
    assert set(result["failures"]) == {"marts__customers", "marts__orders"}
    customers = result["failures"]["marts__customers"]
    assert (
        "marts.customers reads staging.stg_customers, staging.stg_payments, which have no table" in customers
    )
    assert "Materialize them first, or add them to this selection" in customers
    assert "Catalog Error" not in customers and "Fix the model" not in customers
    assert (
        "marts.orders reads staging.stg_payments, which has no table" in result["failures"]["marts__orders"]
    )


def test_a_translator_that_renames_checks_keeps_every_check_reporting(demo_project, tmp_path):
    scratch = demo_project.scratch(tmp_path)
    scratch.extra_env = {"PYTHONPATH": str(IN_PROJECT)}
    result = scratch.materialize(module="renamed_checks")

    assert result["checks"], "no check reported"
    assert all(name.split(":")[1].startswith("audit_") for name in result["checks"])
    assert result["checks"][f"{key(BLOCKING)}:audit_failure_demo_no_returned_orders"] == {
        "passed": False,
        "severity": "ERROR",
        "failing_rows": 5,
    }
    assert result["steps"][step(BLOCKING)] == "STEP_FAILURE"
    assert result["checks"]["marts/customers:audit_not_null__customer_id__full_name__email"]["passed"]


def test_restating_a_model_sqlmesh_never_restates_says_so(demo_project, tmp_path):
    scratch = demo_project.scratch(tmp_path, copy_sqlmesh_project=True)
    (scratch.sqlmesh_project / "models" / "staging" / "customer_history.sql").write_text(
        "MODEL (name staging.customer_history, kind SCD_TYPE_2_BY_COLUMN (unique_key customer_id, "
        "columns [email]));\nSELECT customer_id, email FROM staging.stg_customers\n"
    )
    built = scratch.materialize(select=["raw/customers", "staging/stg_customers", "staging/customer_history"])
    assert built["status"] == "SUCCESS", built["failures"]

    restated = scratch.materialize(select=["staging/customer_history"], tags=RESTATE)
    assert evaluated(restated) == {}
    message = restated["failures"]["staging__customer_history"]
    assert "SQLMesh does not restate staging.customer_history" in message
    assert "SCD_TYPE_2_BY_COLUMN" in message and "its data is unchanged" in message
    assert "cron interval" not in message


def test_with_auto_plan_off_a_model_never_deployed_is_not_reported_up_to_date(demo_project, tmp_path):
    scratch = demo_project.scratch(tmp_path, copy_sqlmesh_project=True)
    assert scratch.materialize(select=["raw/orders"])["status"] == "SUCCESS"
    shutil.copy(
        scratch.sqlmesh_project / "models" / "raw" / "orders.sql",
        scratch.sqlmesh_project / "models" / "raw" / "orders_copy.sql",
    )
    copy = scratch.sqlmesh_project / "models" / "raw" / "orders_copy.sql"
    copy.write_text(copy.read_text().replace("name raw.orders,", "name raw.orders_copy,", 1))
    scratch.extra_env = {"SQLMESH_AUTO_PLAN": "false"}

    result = scratch.materialize(select=["raw/orders_copy", "raw/orders"])
    assert evaluated(result) == {}
    assert result["steps"] == {"raw__orders_copy": "STEP_FAILURE", "raw__orders": "STEP_SUCCESS"}
    message = result["failures"]["raw__orders_copy"]
    assert "raw.orders_copy is not deployed to SQLMesh environment 'prod'" in message
    assert "sqlmesh plan prod" in message
    assert result["materialized"]["raw/orders"]["sqlmesh/status"] == "up to date, not evaluated in this run"


def mixed_graph_run(project, tmp_path, executor, graph: str, source: str, model: str, sql: str) -> tuple:
    """A run of every asset of ``mixed_graphs:<graph>``, with the external model and SQLMesh model it needs."""
    scratch = project.scratch(tmp_path, executor, copy_sqlmesh_project=True)
    externals = scratch.sqlmesh_project / "external_models.yaml"
    externals.write_text(externals.read_text() + source)  # beside the sample's own
    (scratch.sqlmesh_project / "models" / "marts" / f"{model}.sql").write_text(sql)
    scratch.extra_env = {"PYTHONPATH": str(IN_PROJECT)}
    result = scratch.materialize(module=f"mixed_graphs:{graph}")
    assert result["status"] == "SUCCESS", result["failures"]
    assert set(evaluated(result).values()) == {1}  # no model evaluated twice
    return scratch, result


SANDWICH_SOURCE = """
- name: landing.customer_count
  columns:
    run_id: text
    customers: bigint
"""
SANDWICH_TOP = """
MODEL (name marts.customer_count_report, kind FULL);
SELECT run_id, customers FROM landing.customer_count
"""


@pytest.mark.parametrize("executor", ["in_process", "multiprocess"])
def test_a_python_asset_between_sqlmesh_models_is_read_fresh(starter_project, tmp_path, executor):
    """SQLMesh model -> Dagster asset -> SQLMesh model, in one run: the second model reads this run's table."""
    scratch, result = mixed_graph_run(
        starter_project,
        tmp_path,
        executor,
        "sandwich",
        SANDWICH_SOURCE,
        "customer_count_report",
        SANDWICH_TOP,
    )
    assert {"landing/customer_count", "marts/customers", "marts/customer_count_report"} <= set(
        result["materialized"]
    )
    # Two SQLMesh executions, around the Python asset.
    assert result["executions"] == 2
    assert scratch.query("SELECT run_id, customers FROM marts.customer_count_report") == [
        [result["run_id"], 20]
    ]


INGESTED_SOURCE = """
- name: landing.daily_targets
  columns:
    run_id: text
    target: int
"""
INGESTED_REPORT = """
MODEL (name marts.target_report, kind FULL);
SELECT t.run_id, t.target, COUNT(*) AS customers FROM landing.daily_targets AS t CROSS JOIN marts.customers
GROUP BY t.run_id, t.target
"""


def test_a_python_asset_feeding_sqlmesh_gets_one_execution_after_it(starter_project, tmp_path):
    """An ingestion asset and every SQLMesh model of the run: SQLMesh starts once, after the asset."""
    scratch, result = mixed_graph_run(
        starter_project,
        tmp_path,
        "in_process",
        "ingestion",
        INGESTED_SOURCE,
        "target_report",
        INGESTED_REPORT,
    )
    assert {"landing/daily_targets", "marts/customers", "marts/target_report"} <= set(result["materialized"])
    assert result["executions"] == 1
    assert scratch.query("SELECT run_id, target, customers FROM marts.target_report") == [
        [result["run_id"], 1000, 20]
    ]
