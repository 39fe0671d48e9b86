AUDIT (name orders_in_latest, standalone true, blocking false);
SELECT o.order_id
FROM staging.orders AS o
LEFT JOIN marts.latest_orders AS l ON o.order_id = l.order_id
WHERE l.order_id IS NULL
