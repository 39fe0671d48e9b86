-- Demonstrates: a failure stays local. This model reads the same upstream
-- (staging.stg_orders) as the failing models next to it and runs normally.
MODEL (
  name failure_demo.healthy_neighbour,
  kind FULL,
  description 'Runs in the demo: same upstream as the failing models, nothing wrong with it.',
  owner analytics,
  tags (failure_demo),
  audits (
    not_null(columns := (order_date, number_of_orders))
  )
);

SELECT
  order_date,
  COUNT(*) AS number_of_orders
FROM staging.stg_orders
GROUP BY
  order_date
