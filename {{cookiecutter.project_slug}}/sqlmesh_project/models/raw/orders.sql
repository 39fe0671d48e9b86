-- Raw layer: the shop's CSV exports, loaded as-is (dates as TEXT, see raw.customers).
MODEL (
  name raw.orders,
  kind SEED (
    path '../../seeds/orders.csv'
  ),
  description 'Orders as exported from the shop system, with their status on the day of the export.',
  owner analytics,
  tags (raw, shop),
  grain order_id,
  columns (
    order_id INTEGER,
    customer_id INTEGER,
    order_date TEXT,
    status TEXT
  ),
  column_descriptions (
    order_id = 'Order number',
    customer_id = 'Account that placed the order',
    order_date = 'Day the order was placed, YYYY-MM-DD',
    status = 'placed, shipped, completed, return_pending or returned'
  ),
  audits (
    unique_values(columns := (order_id))
  )
);
