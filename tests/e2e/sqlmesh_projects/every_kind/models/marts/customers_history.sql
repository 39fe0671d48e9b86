MODEL (name marts.customers_history, kind SCD_TYPE_2_BY_TIME (unique_key customer_id));
SELECT customer_id, MAX(amount) AS largest_order, MAX(updated_at) AS updated_at
FROM staging.orders
GROUP BY customer_id
