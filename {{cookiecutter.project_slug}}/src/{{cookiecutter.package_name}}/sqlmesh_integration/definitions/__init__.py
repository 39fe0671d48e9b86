"""The Dagster definitions of a SQLMesh project, built when the code location loads.

How SQLMesh names become Dagster names and each model's asset spec
(:mod:`.translator`), what a cron means to Dagster (:mod:`.cron_policies`),
one asset per model with audits as checks (:mod:`.factory`), schedules
(:mod:`.schedules`) or a condition per model (:mod:`.automation`). The
highest layer: its assets report what :mod:`..runs` gives them through
:mod:`..reporting`.

May import: :mod:`..environments`, :mod:`..reporting`, :mod:`..runs`,
:mod:`..project`, :mod:`..execution` and :mod:`..vocabulary`.
"""
