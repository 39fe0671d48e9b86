"""What the sample SQLMesh project does on its first run, stated as data.

The sample project lives in ``sqlmesh_project/`` of a generated project. Its
"demo" variant adds the models of ``models/failure_demo/``, which fail on
purpose; the "starter" variant deletes them, and every model succeeds.

"First run" means, on an empty warehouse: a ``prod`` plan that skips the
backfill, then a ``run`` of everything, with the default ``start_date``
(2024-01-01; any start up to 2024-01-15, the first order day, gives the same
counts, a later one loads fewer orders). Model names are ``schema.name``,
without the catalog (SQLMesh's snapshot names add the DuckDB catalog, e.g.
``"warehouse"."marts"."customers"``). Seeds are models too.
"""

# --- Models -----------------------------------------------------------------

ALL_MODELS_STARTER = {
    "raw.customers",
    "raw.orders",
    "raw.payments",
    "staging.stg_customers",
    "staging.stg_orders",
    "staging.stg_payments",
    "marts.customers",
    "marts.orders",
    "marts.daily_revenue",
    "marts.customer_segments",  # the Python model
    "marts.revenue_vs_target",  # reads the table the Python asset below writes
}

# INCREMENTAL_BY_TIME_RANGE models tagged dagster_partitioned, in both samples:
# assets partitioned by day, which a run without partitions (make run, and the
# probe without --select) leaves out. Every day they hold is derived from its date.
PARTITIONED_MODELS = {"web.page_views", "web.daily_traffic"}
PAGES_PER_DAY = 5  # rows of web.page_views per day

# Dagster assets written in Python (src/<package>/ingestion.py), in both samples:
# each writes a table a SQLMesh model reads (declared in external_models.yaml).
PYTHON_ASSETS = {"landing/revenue_targets"}

DEMO_ONLY_MODELS = {
    "failure_demo.orders_with_bad_cast",
    "failure_demo.bad_cast_summary",
    "failure_demo.bad_cast_report",
    "failure_demo.orders_failing_blocking_audit",
    "failure_demo.after_blocking_audit",
    "failure_demo.orders_failing_warning_audit",
    "failure_demo.after_warning_audit",
    "failure_demo.healthy_neighbour",
}

ALL_MODELS_DEMO = ALL_MODELS_STARTER | DEMO_ONLY_MODELS

# --- Outcomes of the demo run (the starter run: all of ALL_MODELS_STARTER evaluated)

# Evaluation raised (duration_ms is None), and the model is in log_failed_models.
EXPECTED_FAILED = {
    "failure_demo.orders_with_bad_cast",  # DuckDB ConversionException
    "failure_demo.orders_failing_blocking_audit",  # NodeAuditsErrors
}

# In log_skipped_models: never evaluated because an upstream model failed.
EXPECTED_SKIPPED = {
    "failure_demo.bad_cast_summary",
    "failure_demo.bad_cast_report",
    "failure_demo.after_blocking_audit",
}

# Evaluated successfully (some with a failed non-blocking audit).
EXPECTED_EVALUATED_DEMO = ALL_MODELS_DEMO - EXPECTED_FAILED - EXPECTED_SKIPPED

# Text found in the exception each failed model carries as ``__cause__``.
EXPECTED_ERROR_SNIPPETS = {
    "failure_demo.orders_with_bad_cast": "Could not convert string 'completed' to INT32",
    "failure_demo.orders_failing_blocking_audit": "failure_demo_no_returned_orders",
}

# (model, audit) pairs that fail; blocking ones fail the model, warning ones do not.
EXPECTED_FAILED_BLOCKING_AUDITS = {
    ("failure_demo.orders_failing_blocking_audit", "failure_demo_no_returned_orders"),
}
EXPECTED_WARN_AUDITS = {
    ("failure_demo.orders_failing_warning_audit", "not_null_non_blocking"),
}

# Rows each failing audit finds: 5 returned orders, 2 orders not paid yet.
FAILING_AUDIT_ROW_COUNTS = {
    ("failure_demo.orders_failing_blocking_audit", "failure_demo_no_returned_orders"): 5,
    ("failure_demo.orders_failing_warning_audit", "not_null_non_blocking"): 2,
}

# A non-blocking audit on a healthy model; it passes.
PASSING_NON_BLOCKING_AUDITS = {
    ("marts.orders", "accepted_range_non_blocking"),
    ("marts.daily_revenue", "accepted_range"),  # built-in, made non-blocking with `blocking := false`
}

# --- Audits -------------------------------------------------------------------

# Audit names per model, in the order declared. A name appears twice when the
# model uses the same audit with different arguments (marts.customers).
# Models without audits are listed with an empty list.
AUDITS_BY_MODEL = {
    "raw.customers": ["unique_values"],
    "raw.orders": ["unique_values"],
    "raw.payments": ["unique_values"],
    "staging.stg_customers": ["unique_values", "not_null", "forall"],
    "staging.stg_orders": ["not_null", "unique_values", "accepted_values"],
    "staging.stg_payments": [
        "unique_values",
        "not_null",
        "accepted_values",
        "assert_positive_amounts",  # custom audit, audits/assert_positive_amounts.sql
    ],
    "marts.customers": ["unique_values", "not_null", "not_null", "accepted_range"],
    "marts.orders": ["unique_values", "not_null", "accepted_range_non_blocking"],
    "marts.daily_revenue": ["unique_values", "not_null", "forall", "accepted_range"],
    "marts.customer_segments": ["not_null"],
    "marts.revenue_vs_target": ["unique_values", "not_null"],
    "failure_demo.orders_with_bad_cast": [],
    "failure_demo.bad_cast_summary": [],
    "failure_demo.bad_cast_report": [],
    "failure_demo.orders_failing_blocking_audit": ["failure_demo_no_returned_orders"],
    "failure_demo.after_blocking_audit": [],
    "failure_demo.orders_failing_warning_audit": ["not_null_non_blocking"],
    "failure_demo.after_warning_audit": [],
    "failure_demo.healthy_neighbour": ["not_null"],
}

# --- Data ---------------------------------------------------------------------

# Rows in the mart tables after the first run (same in demo and starter).
MART_ROW_COUNTS = {
    "marts.customers": 20,  # every customer, 3 of them never ordered
    "marts.orders": 55,
    "marts.daily_revenue": 77,  # every day from 2024-01-15 to 2024-03-31
    "marts.customer_segments": 20,
    "marts.revenue_vs_target": 3,  # one row per month the Python asset set a target for
}

# Rows in the demo models that do get evaluated.
DEMO_ROW_COUNTS = {
    "failure_demo.orders_failing_warning_audit": 55,
    "failure_demo.after_warning_audit": 1,
    "failure_demo.healthy_neighbour": 41,  # days with at least one order
}

# SQLMesh unit tests in sqlmesh_project/tests/ (all pass in both variants).
UNIT_TESTS = {
    "test_stg_orders_loads_only_the_requested_days",
    "test_stg_orders_flags_pending_returns_as_returns",
    "test_customers_lifetime_value_ignores_returns",
    "test_orders_pivots_payments_by_method",
    "test_revenue_vs_target_counts_a_month_without_orders_as_zero",
}
