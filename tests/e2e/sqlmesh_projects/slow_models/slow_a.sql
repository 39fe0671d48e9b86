-- Sleeps while it evaluates a day (see README.md), recording when the statement
-- started and when the row was made.
MODEL (
  name slow.slow_a,
  kind INCREMENTAL_BY_TIME_RANGE (
    time_column day
  ),
  cron '@daily',
  tags (dagster_partitioned),
  dialect postgres,
  columns (
    day DATE,
    started_at TIMESTAMPTZ,
    ended_at TIMESTAMPTZ
  )
);

SELECT
  CAST(@start_ds AS DATE) AS day,
  statement_timestamp() AS started_at,
  clock_timestamp() AS ended_at
FROM (SELECT pg_sleep(CASE WHEN @start_ds = '2024-01-05' THEN 600 ELSE 3 END)) AS sleeping
