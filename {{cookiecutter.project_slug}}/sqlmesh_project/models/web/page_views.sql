-- Web layer: page views per page and day, a Dagster asset partitioned by day.
--
-- The tag dagster_partitioned makes this INCREMENTAL_BY_TIME_RANGE model an
-- asset with one partition per day, from the project's start date (see
-- docs/adr/0006): a run for a range of days evaluates exactly those days, and
-- Dagster shows which days SQLMesh has filled. The shop has no web analytics
-- export yet, so the numbers are derived from the date: a day holds the same
-- views every time it is evaluated, and loaded_at says when that last happened.
MODEL (
  name web.page_views,
  kind INCREMENTAL_BY_TIME_RANGE (
    time_column view_date
  ),
  cron '@daily',
  description 'Views of the shop''s web pages, per page and day.',
  owner analytics,
  tags (web, dagster_partitioned),
  grain (view_date, page),
  column_descriptions (
    view_date = 'Calendar day (UTC)',
    page = 'home, catalog, product, cart or checkout',
    views = 'Times the page was viewed that day',
    loaded_at = 'When SQLMesh last evaluated this day'
  ),
  audits (
    not_null(columns := (view_date, page, views, loaded_at)),
    unique_combination_of_columns(columns := (view_date, page))
  )
);

SELECT
  CAST(days.day AS DATE) AS view_date,
  pages.page,
  CAST(20 + (EXTRACT(DAY FROM days.day) * pages.weight) % 40 AS INTEGER) AS views,
  CAST(@execution_ts AS TIMESTAMP) AS loaded_at
FROM GENERATE_SERIES(@start_date, @end_date, INTERVAL '1' DAY) AS days(day)
CROSS JOIN (
  VALUES
    ('home', 7),
    ('catalog', 5),
    ('product', 3),
    ('cart', 2),
    ('checkout', 1)
) AS pages(page, weight)
