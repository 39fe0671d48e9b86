"""Jobs beside the assets: the plan for an environment, its promotion, intervals filled outside Dagster.

The jobs (:mod:`.environments`, :mod:`.interval_report`) and the plan as a
reviewer reads it (:mod:`.plan_report`). They do not materialize assets, so
they need neither the runs layer nor the asset definitions: the project's
resource and SQLMesh's own commands.

May import: :mod:`..reporting`, :mod:`..runs`, :mod:`..project`,
:mod:`..execution` and :mod:`..vocabulary`.
"""
