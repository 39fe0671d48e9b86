MODEL (
  name sales.daily_orders,
  kind INCREMENTAL_BY_TIME_RANGE (time_column order_date),
  start '2026-01-01',
  end '2026-01-02',
  cron '@daily',
  grain order_date
);

SELECT
  order_date,
  COUNT(*) AS orders,
  SUM(amount) AS amount
FROM landing.landing.raw_orders
WHERE order_date BETWEEN @start_ds AND @end_ds
GROUP BY order_date
