MODEL (
  name staging.events_daily,
  kind INCREMENTAL_BY_TIME_RANGE (
    time_column event_date,
    batch_size 7
  ),
  cron '@daily',
  tags [dagster_partitioned]
);

SELECT
  event_date,
  COUNT(*) AS events
FROM raw.events
WHERE event_date BETWEEN @start_ds AND @end_ds
GROUP BY event_date
