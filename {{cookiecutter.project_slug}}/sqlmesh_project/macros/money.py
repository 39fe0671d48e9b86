from sqlglot import exp
from sqlmesh import macro


@macro()
def cents_to_dollars(evaluator, amount_cents: exp.Expression, scale: int = 2) -> exp.Expression:
    """Turns an integer amount of cents into a DECIMAL amount of dollars.

    Usage in a model: ``@cents_to_dollars(amount_cents) AS amount``.
    The cast to DECIMAL comes before the division: on many engines dividing an
    integer by 100 is an integer division and would drop the cents.
    """
    cents = amount_cents.sql(dialect=evaluator.dialect)
    decimal = f"DECIMAL(18, {scale})"
    return exp.maybe_parse(
        f"CAST(CAST({cents} AS {decimal}) / 100 AS {decimal})",
        dialect=evaluator.dialect,
    )
