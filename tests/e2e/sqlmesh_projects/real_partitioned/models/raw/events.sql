MODEL (
  name raw.events,
  kind FULL,
  cron '@daily'
);

SELECT
  CAST(n AS INT) AS event_id,
  CAST(CURRENT_DATE - CAST(n % 30 AS INT) AS DATE) AS event_date
FROM generate_series(0, 299) AS t(n)
