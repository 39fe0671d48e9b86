MODEL (
  name marts.daily_orders,
  kind INCREMENTAL_BY_TIME_RANGE (time_column day, batch_size 3),
  cron '@daily',
  grain day
);
SELECT day::DATE AS day, (SELECT COUNT(*) FROM staging.orders) AS orders
FROM generate_series(@start_ds::DATE, @end_ds::DATE, INTERVAL 1 DAY) AS t(day)
WHERE day::DATE BETWEEN @start_ds AND @end_ds
