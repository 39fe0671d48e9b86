MODEL (
  name marts.daily_summary,
  kind FULL,
  cron '@daily'
);

SELECT
  COUNT(*) AS days,
  SUM(events) AS events
FROM staging.events_daily
