MODEL (name marts.order_log, kind INCREMENTAL_UNMANAGED);
SELECT order_id, amount FROM staging.orders
