-- A custom audit: an audit is a query that returns the rows breaking a rule.
-- No rows returned means the audit passes. Custom audits block by default: a
-- failure withholds the model's data from everything downstream.
--
-- Usage in a model: audits (assert_positive_amounts(column := amount))
AUDIT (
  name assert_positive_amounts,
  defaults (
    column = amount
  )
);

SELECT *
FROM @this_model
WHERE @column <= 0
