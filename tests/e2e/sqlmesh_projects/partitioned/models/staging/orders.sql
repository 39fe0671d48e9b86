MODEL (
  name staging.orders,
  kind INCREMENTAL_BY_TIME_RANGE (
    time_column order_date,
    -- One day per query: a bad row fails its own day only.
    batch_size 1
  ),
  cron '@daily',
  grain order_id,
  tags [dagster_partitioned],
  audits (not_null(columns := (order_id, amount)))
);

SELECT
  order_id,
  order_date,
  CAST(amount AS DECIMAL(10, 2)) AS amount
FROM landing.orders
WHERE order_date BETWEEN @start_ds AND @end_ds
