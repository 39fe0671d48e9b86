MODEL (name marts.broken, kind FULL);
SELECT CAST(status AS INT) AS status_code FROM staging.orders
