MODEL (
  name sales.order_totals,
  kind FULL,
  audits (not_null(columns := (orders)))
);

SELECT
  SUM(orders) AS orders,
  SUM(amount) AS amount
FROM sales.daily_orders
