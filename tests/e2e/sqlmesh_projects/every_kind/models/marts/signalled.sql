MODEL (name marts.signalled, kind FULL, signals (always_ready()));
SELECT COUNT(*) AS n FROM staging.orders_view
