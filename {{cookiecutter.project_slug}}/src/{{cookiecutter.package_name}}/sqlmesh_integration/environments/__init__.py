"""Jobs beside the assets: the plan for an environment, its promotion, intervals filled outside Dagster.

They do not materialize assets, so they need neither the runs layer nor the
asset definitions: the project's resource and SQLMesh's own commands.

Imports: :mod:`..project`, :mod:`..execution` and :mod:`..vocabulary`.
"""
