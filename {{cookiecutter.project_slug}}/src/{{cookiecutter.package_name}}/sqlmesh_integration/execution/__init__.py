"""One SQLMesh execution, from the plan to each model's outcome, and the stream it writes them to.

What a run asks of SQLMesh (:mod:`.selection`), the locks the execution takes
on the shared SQLMesh state (:mod:`.coordination`, :mod:`.locks`), the plan
(:mod:`.planning`), the evaluation (:mod:`.execution`), the selections
handed to SQLMesh's plan and run (:mod:`.selectors`), what the
environment's state says is left to do (:mod:`.environment_state`), why a
model cannot be built as asked (:mod:`.blockers`), audits that evaluate
nothing (:mod:`.auditing`), what SQLMesh reports meanwhile
(:mod:`.event_capture`), each model's outcome (:mod:`.outcome_builder`) and
the file the outcomes are published to (:mod:`.execution_stream`). It is
given a loaded SQLMesh context; loading one is the project layer's job.

May import: :mod:`..vocabulary`.
"""
