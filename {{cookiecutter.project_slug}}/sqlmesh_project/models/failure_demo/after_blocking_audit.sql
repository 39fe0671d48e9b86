-- Demonstrates: a model SKIPPED because its upstream failed a blocking audit.
MODEL (
  name failure_demo.after_blocking_audit,
  kind FULL,
  description 'Never runs in the demo: the blocking audit of its upstream fails.',
  owner analytics,
  tags (failure_demo)
);

SELECT
  status,
  COUNT(*) AS number_of_orders
FROM failure_demo.orders_failing_blocking_audit
GROUP BY
  status
