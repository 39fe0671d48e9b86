MODEL (
  name marts.daily_revenue,
  kind INCREMENTAL_BY_TIME_RANGE (time_column order_date),
  cron '@daily',
  grain order_date,
  tags [dagster_partitioned]
);

SELECT
  order_date,
  COUNT(*) AS orders,
  SUM(amount) AS revenue,
  NOW() AS computed_at
FROM staging.orders
WHERE order_date BETWEEN @start_ds AND @end_ds
GROUP BY order_date
