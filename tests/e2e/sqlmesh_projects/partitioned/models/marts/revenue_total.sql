MODEL (
  name marts.revenue_total,
  kind FULL,
  cron '@daily'
);

SELECT
  COUNT(*) AS days,
  SUM(revenue) AS revenue
FROM marts.daily_revenue
