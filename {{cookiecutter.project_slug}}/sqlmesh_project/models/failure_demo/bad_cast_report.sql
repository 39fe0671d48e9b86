-- Demonstrates: a model SKIPPED two levels below a failure: its upstream
-- (bad_cast_summary) was itself skipped because orders_with_bad_cast failed.
MODEL (
  name failure_demo.bad_cast_report,
  kind FULL,
  description 'Never runs in the demo: two levels below failure_demo.orders_with_bad_cast.',
  owner analytics,
  tags (failure_demo)
);

SELECT
  status_code,
  number_of_orders
FROM failure_demo.bad_cast_summary
WHERE
  number_of_orders > 0
