-- Marts layer: revenue per calendar day, including days without any order, so
-- a chart drawn from it shows the quiet days as zeros rather than skipping them.
MODEL (
  name marts.daily_revenue,
  kind FULL,
  description 'Orders and revenue per day, from the first order day to the last.',
  owner analytics,
  tags (marts, shop, finance),
  grain order_date,
  column_descriptions (
    order_date = 'Calendar day',
    orders_placed = 'Orders placed that day',
    orders_returned = 'Orders placed that day that were later returned (or are being returned)',
    gross_revenue = 'Dollars paid for the orders placed that day',
    returned_revenue = 'Part of gross_revenue paid for orders later returned',
    net_revenue = 'gross_revenue minus returned_revenue'
  ),
  audits (
    unique_values(columns := (order_date)),
    not_null(columns := (order_date, orders_placed, gross_revenue, net_revenue)),
    forall(criteria := (net_revenue >= 0, net_revenue <= gross_revenue)),
    -- A day with more returns than orders is worth a look, not worth stopping
    -- the pipeline for: `blocking := false` makes this audit warn instead.
    accepted_range(column := orders_returned, min_v := 0, max_v := 10, blocking := false)
  )
);

WITH bounds AS (
  SELECT
    MIN(order_date) AS first_day,
    MAX(order_date) AS last_day
  FROM marts.orders
), calendar AS (
  -- GENERATE_SERIES as a table, which DuckDB and PostgreSQL both accept (a `spark` bake writes
  -- UNNEST(GENERATE_SERIES(...)) instead, which SQLMesh turns into Spark's EXPLODE).
  SELECT
    CAST(series.day AS DATE) AS order_date
  FROM bounds
  CROSS JOIN GENERATE_SERIES(bounds.first_day, bounds.last_day, INTERVAL '1' DAY) AS series(day)
), per_day AS (
  SELECT
    order_date,
    COUNT(*) AS orders_placed,
    COUNT(*) FILTER(WHERE is_return) AS orders_returned,
    SUM(amount) AS gross_revenue,
    SUM(amount) FILTER(WHERE is_return) AS returned_revenue
  FROM marts.orders
  GROUP BY
    order_date
)
SELECT
  calendar.order_date,
  COALESCE(per_day.orders_placed, 0) AS orders_placed,
  COALESCE(per_day.orders_returned, 0) AS orders_returned,
  CAST(COALESCE(per_day.gross_revenue, 0) AS DECIMAL(18, 2)) AS gross_revenue,
  CAST(COALESCE(per_day.returned_revenue, 0) AS DECIMAL(18, 2)) AS returned_revenue,
  CAST(COALESCE(per_day.gross_revenue, 0) - COALESCE(per_day.returned_revenue, 0) AS DECIMAL(18, 2)) AS net_revenue
FROM calendar
LEFT JOIN per_day
  ON calendar.order_date = per_day.order_date
