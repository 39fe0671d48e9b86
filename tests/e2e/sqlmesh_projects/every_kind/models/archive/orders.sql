MODEL (name archive.staging.orders, kind FULL);
SELECT order_id, status FROM staging.orders WHERE status = 'completed'
