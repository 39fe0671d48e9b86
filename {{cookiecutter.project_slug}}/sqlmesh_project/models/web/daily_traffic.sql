-- Web layer: the day's traffic in one row, partitioned by day like the page
-- views it sums, so a run for a range of days evaluates both for those days.
MODEL (
  name web.daily_traffic,
  kind INCREMENTAL_BY_TIME_RANGE (
    time_column view_date
  ),
  cron '@daily',
  description 'Views of the shop''s web site per day, and of its checkout page.',
  owner analytics,
  tags (web, dagster_partitioned),
  grain view_date,
  column_descriptions (
    view_date = 'Calendar day (UTC)',
    views = 'Views of every page that day',
    checkout_views = 'Views of the checkout page that day',
    loaded_at = 'When SQLMesh last evaluated this day'
  ),
  audits (
    unique_values(columns := (view_date)),
    not_null(columns := (view_date, views, checkout_views, loaded_at))
  )
);

SELECT
  view_date,
  CAST(SUM(views) AS INTEGER) AS views,
  CAST(SUM(views) FILTER(WHERE page = 'checkout') AS INTEGER) AS checkout_views,
  CAST(@execution_ts AS TIMESTAMP) AS loaded_at
FROM web.page_views
WHERE
  view_date BETWEEN @start_date AND @end_date
GROUP BY
  view_date
