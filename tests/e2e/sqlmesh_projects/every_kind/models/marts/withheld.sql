MODEL (name marts.withheld, kind FULL, audits (assert_no_refunds));
SELECT order_id, amount FROM staging.orders
