MODEL (
  name staging.events_hourly,
  kind INCREMENTAL_BY_TIME_RANGE (time_column hour_start),
  cron '@hourly',
  tags [dagster_partitioned, hourly]
);

SELECT
  CAST(@start_ts AS TIMESTAMP) AS hour_start,
  1 AS ticks
