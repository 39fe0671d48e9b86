MODEL (name staging.big_orders, kind EMBEDDED);
SELECT order_id, amount FROM staging.orders WHERE amount > 20
