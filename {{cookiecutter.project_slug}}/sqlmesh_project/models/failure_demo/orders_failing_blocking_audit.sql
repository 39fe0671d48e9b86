-- Demonstrates: a BLOCKING audit that fails.
-- The model itself runs fine, but its audit failure_demo_no_returned_orders
-- finds returned orders. SQLMesh reports the model as failed and skips its
-- downstream model (after_blocking_audit). Note the rows were already written.
MODEL (
  name failure_demo.orders_failing_blocking_audit,
  kind FULL,
  description 'Fails on purpose: its blocking audit finds returned orders.',
  owner analytics,
  tags (failure_demo),
  audits (
    failure_demo_no_returned_orders
  )
);

SELECT
  order_id,
  customer_id,
  order_date,
  status
FROM staging.stg_orders
