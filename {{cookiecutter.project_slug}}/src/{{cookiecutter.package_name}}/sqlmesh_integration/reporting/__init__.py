"""A model's outcome as Dagster events: materializations, check results, failures.

Kept apart from the definitions that call it so that what a step reports
depends only on the outcome and the run's selection, never on how the
outcome was obtained (:mod:`..runs`).

May import: :mod:`..runs`, :mod:`..project`, :mod:`..execution` and
:mod:`..vocabulary`.
"""
