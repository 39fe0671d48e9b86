MODEL (name staging.orders_view, kind VIEW);
SELECT order_id, status FROM staging.orders
