MODEL (
  name raw.orders,
  kind SEED (path '../../seeds/raw_orders.csv'),
  columns (order_id INT, customer_id INT, amount DOUBLE, status TEXT, updated_at TIMESTAMP),
  grain order_id
);
