MODEL (name marts.orders_by_status, kind INCREMENTAL_BY_PARTITION, partitioned_by status);
SELECT status, COUNT(*) AS orders FROM staging.orders GROUP BY status
