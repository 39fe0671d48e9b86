-- Marts layer: tables the business reads, one row per business entity.
MODEL (
  name marts.customers,
  kind FULL,
  description 'One row per customer with order history and lifetime value.',
  owner analytics,
  tags (marts, shop),
  grain customer_id,
  column_descriptions (
    customer_id = 'Shop account id',
    full_name = 'First and last name',
    email = 'Contact email address',
    signup_date = 'Day the account was created',
    first_order_date = 'Day of the first order; NULL for customers who never ordered',
    most_recent_order_date = 'Day of the latest order; NULL for customers who never ordered',
    number_of_orders = 'Orders placed, returns included',
    lifetime_value = 'Dollars paid for orders that were not returned'
  ),
  audits (
    unique_values(columns := (customer_id)),
    -- The same audit twice with different arguments: identity columns, then measures.
    not_null(columns := (customer_id, full_name, email)),
    not_null(columns := (number_of_orders, lifetime_value)),
    accepted_range(column := lifetime_value, min_v := 0)
  )
);

WITH order_history AS (
  SELECT
    customer_id,
    MIN(order_date) AS first_order_date,
    MAX(order_date) AS most_recent_order_date,
    COUNT(*) AS number_of_orders
  FROM staging.stg_orders
  GROUP BY
    customer_id
), kept_payments AS (
  -- Money is only "earned" for orders the customer kept.
  SELECT
    orders.customer_id,
    SUM(payments.amount) AS amount
  FROM staging.stg_payments AS payments
  JOIN staging.stg_orders AS orders
    ON payments.order_id = orders.order_id
  WHERE
    NOT orders.is_return
  GROUP BY
    orders.customer_id
)
SELECT
  customers.customer_id,
  customers.full_name,
  customers.email,
  customers.signup_date,
  order_history.first_order_date,
  order_history.most_recent_order_date,
  COALESCE(order_history.number_of_orders, 0) AS number_of_orders,
  CAST(COALESCE(kept_payments.amount, 0) AS DECIMAL(18, 2)) AS lifetime_value
FROM staging.stg_customers AS customers
LEFT JOIN order_history
  ON customers.customer_id = order_history.customer_id
LEFT JOIN kept_payments
  ON customers.customer_id = kept_payments.customer_id
