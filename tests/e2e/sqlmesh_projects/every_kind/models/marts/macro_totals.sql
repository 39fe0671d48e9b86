MODEL (name marts.macro_totals, kind FULL);
@DEF(kept_status, 'completed');
SELECT customer_id, SUM(@cents(amount)) AS cents
FROM staging.orders
WHERE status = @kept_status
GROUP BY customer_id
