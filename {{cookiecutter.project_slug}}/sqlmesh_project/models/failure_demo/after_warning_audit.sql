-- Demonstrates: a model that RUNS even though its upstream failed an audit,
-- because that audit is non-blocking (a warning).
MODEL (
  name failure_demo.after_warning_audit,
  kind FULL,
  description 'Runs in the demo: the failing audit of its upstream is only a warning.',
  owner analytics,
  tags (failure_demo)
);

SELECT
  COUNT(*) FILTER(WHERE amount_paid IS NULL) AS unpaid_orders,
  COUNT(*) AS all_orders
FROM failure_demo.orders_failing_warning_audit
