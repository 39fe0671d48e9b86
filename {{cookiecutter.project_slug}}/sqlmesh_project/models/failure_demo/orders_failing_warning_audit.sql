-- Demonstrates: a NON-BLOCKING audit that fails, which is only a warning.
-- Orders not paid yet have no payment, so amount_paid is NULL and the
-- not_null_non_blocking audit finds them. The model still counts as
-- evaluated and its downstream model (after_warning_audit) runs.
MODEL (
  name failure_demo.orders_failing_warning_audit,
  kind FULL,
  description 'Succeeds with a warning: its non-blocking audit finds unpaid orders.',
  owner analytics,
  tags (failure_demo),
  audits (
    not_null_non_blocking(columns := (amount_paid))
  )
);

SELECT
  orders.order_id,
  orders.status,
  paid.amount_paid
FROM staging.stg_orders AS orders
LEFT JOIN (
  SELECT
    order_id,
    SUM(amount) AS amount_paid
  FROM staging.stg_payments
  GROUP BY
    order_id
) AS paid
  ON orders.order_id = paid.order_id
