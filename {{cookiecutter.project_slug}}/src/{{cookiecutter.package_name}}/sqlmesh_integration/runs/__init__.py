"""Coordination across the steps of a run and across runs: one execution serves every step.

Which execution covers a model and claiming one (:mod:`.claims`), starting it
in a forked child (:mod:`.isolation`, :mod:`.ownership`), a step reading the
stream until its model's outcome is there (:mod:`.following`), old runs'
folders (:mod:`.pruning`), the executors whose steps cannot share it
(:mod:`.placement`), and the resource each step asks for its own
model's outcome (:mod:`.run_results`). Nothing here speaks to SQLMesh; it
starts executions through the project's resource and reads their streams.

May import: :mod:`..project`, :mod:`..execution` and :mod:`..vocabulary`.
"""
