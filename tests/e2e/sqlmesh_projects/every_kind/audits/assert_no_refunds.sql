AUDIT (name assert_no_refunds);
SELECT * FROM @this_model WHERE amount < 0
