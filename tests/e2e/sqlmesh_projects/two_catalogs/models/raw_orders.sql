MODEL (
  name landing.landing.raw_orders,
  kind SEED (path '../seeds/raw_orders.csv'),
  columns (order_id INT, order_date DATE, amount DOUBLE)
);
