MODEL (name marts.big_order_count, kind FULL);
SELECT COUNT(*) AS big_orders FROM staging.big_orders
