-- Demonstrates: a model that FAILS WHILE RUNNING.
-- It loads and plans without complaint (the SQL is valid and the column types
-- are known), but casting the text status to an integer breaks on the first
-- real row: DuckDB raises "Conversion Error: Could not convert string ... to INT32".
-- SQLMesh then skips everything downstream of it (bad_cast_summary, bad_cast_report).
MODEL (
  name failure_demo.orders_with_bad_cast,
  kind FULL,
  description 'Fails on purpose at run time: casts the text order status to an integer.',
  owner analytics,
  tags (failure_demo)
);

SELECT
  order_id,
  CAST(status AS INTEGER) AS status_code
FROM staging.stg_orders
