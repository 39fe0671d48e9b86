MODEL (name marts.after_broken, kind FULL);
SELECT COUNT(*) AS n FROM marts.broken
