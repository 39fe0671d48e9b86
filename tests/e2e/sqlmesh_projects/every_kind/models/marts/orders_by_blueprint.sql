MODEL (
  name marts.orders_@{status},
  kind FULL,
  blueprints ((status := 'shipped'), (status := 'completed'))
);
SELECT order_id FROM staging.orders WHERE status = @status
