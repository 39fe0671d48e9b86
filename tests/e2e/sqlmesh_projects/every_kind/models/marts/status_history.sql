MODEL (name marts.status_history, kind SCD_TYPE_2_BY_COLUMN (unique_key order_id, columns [status]));
SELECT order_id, status FROM staging.orders
