-- Demonstrates: a model SKIPPED because its upstream (orders_with_bad_cast) failed.
MODEL (
  name failure_demo.bad_cast_summary,
  kind FULL,
  description 'Never runs in the demo: its upstream failure_demo.orders_with_bad_cast fails.',
  owner analytics,
  tags (failure_demo)
);

SELECT
  status_code,
  COUNT(*) AS number_of_orders
FROM failure_demo.orders_with_bad_cast
GROUP BY
  status_code
