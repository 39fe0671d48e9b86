-- Marts layer: each month's net revenue against the target finance set for it.
-- The targets are not a SQLMesh model: a Dagster asset writes them
-- (landing/revenue_targets), and external_models.yaml declares the table.
MODEL (
  name marts.revenue_vs_target,
  kind FULL,
  description 'Net revenue per month against the month''s target.',
  owner analytics,
  tags (marts, finance),
  grain month,
  column_descriptions (
    month = 'First day of the month',
    target_revenue = 'Revenue finance expects for the month, in dollars',
    net_revenue = 'Net revenue of the orders placed that month (0 before the first order)',
    attainment = 'net_revenue / target_revenue: 1.0 means the target was met exactly'
  ),
  audits (
    unique_values(columns := (month)),
    not_null(columns := (month, target_revenue, net_revenue, attainment))
  )
);

WITH per_month AS (
  SELECT
    CAST(DATE_TRUNC('month', order_date) AS DATE) AS month,
    SUM(net_revenue) AS net_revenue
  FROM marts.daily_revenue
  GROUP BY
    1
)
SELECT
  targets.month,
  targets.target_revenue,
  CAST(COALESCE(per_month.net_revenue, 0) AS DECIMAL(18, 2)) AS net_revenue,
  CAST(COALESCE(per_month.net_revenue, 0) / targets.target_revenue AS DECIMAL(18, 3)) AS attainment
FROM landing.revenue_targets AS targets
LEFT JOIN per_month
  ON targets.month = per_month.month
