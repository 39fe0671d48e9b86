MODEL (name marts.latest_orders, kind INCREMENTAL_BY_UNIQUE_KEY (unique_key order_id));
SELECT order_id, status, amount FROM staging.orders WHERE order_id <> 3
