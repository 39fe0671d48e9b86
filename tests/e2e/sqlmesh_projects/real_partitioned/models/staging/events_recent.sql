MODEL (
  name staging.events_recent,
  kind INCREMENTAL_BY_TIME_RANGE (time_column event_date),
  cron '@daily',
  start '5 days ago',
  tags [dagster_partitioned]
);

SELECT
  event_date,
  COUNT(*) AS events
FROM raw.events
WHERE event_date BETWEEN @start_ds AND @end_ds
GROUP BY event_date
