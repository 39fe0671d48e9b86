MODEL (
  name staging.orders,
  kind FULL,
  grain order_id,
  references (customer_id),
  audits (accepted_range(column := amount, min_v := 0, blocking := false))
);
SELECT
  order_id, -- The order's id
  customer_id, -- Who ordered
  amount, -- What it cost, in dollars
  status,
  updated_at
FROM raw.orders
