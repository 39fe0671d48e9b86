-- Staging layer: orders, loaded incrementally one day at a time.
--
-- SQLMesh tracks which days (intervals) have been loaded and fills in only the
-- missing ones: @start_date and @end_date are the bounds of the days being
-- processed, so each run touches only new data.
MODEL (
  name staging.stg_orders,
  kind INCREMENTAL_BY_TIME_RANGE (
    time_column order_date
  ),
  cron '@daily',
  description 'Orders, one row per order, with a flag for returns.',
  owner analytics,
  tags (staging, shop, incremental),
  grain order_id,
  audits (
    not_null(columns := (order_id, customer_id, order_date, status)),
    unique_values(columns := (order_id)),
    accepted_values(
      column := status,
      is_in := ('placed', 'shipped', 'completed', 'return_pending', 'returned')
    )
  )
);

SELECT
  order_id, -- Order number
  customer_id, -- Account that placed the order
  CAST(order_date AS DATE) AS order_date, -- Day the order was placed
  status, -- placed, shipped, completed, return_pending or returned
  status IN ('return_pending', 'returned') AS is_return -- True once the customer asked to send the goods back
FROM raw.orders
WHERE
  CAST(order_date AS DATE) BETWEEN @start_date AND @end_date
