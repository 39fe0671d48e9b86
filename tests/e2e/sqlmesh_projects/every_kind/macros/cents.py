from sqlmesh import macro


@macro()
def cents(evaluator, column):
    """An amount in dollars, as whole cents."""
    return f"CAST(ROUND({column.sql()} * 100) AS INT)"
