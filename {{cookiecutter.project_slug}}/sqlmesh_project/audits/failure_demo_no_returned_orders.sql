-- Demonstrates: a custom audit that fails (used by failure_demo.orders_failing_blocking_audit).
-- Returned orders are a normal part of the shop data, so this rule is wrong on
-- purpose: it always finds rows, and being blocking, it fails its model.
AUDIT (
  name failure_demo_no_returned_orders
);

SELECT *
FROM @this_model
WHERE status = 'returned'
