MODEL (name marts.after_withheld, kind FULL);
SELECT COUNT(*) AS n FROM marts.withheld
