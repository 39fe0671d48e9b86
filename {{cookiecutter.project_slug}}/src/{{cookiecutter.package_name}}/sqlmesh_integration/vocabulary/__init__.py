"""The shared vocabulary: what every layer says the same way, so no layer has to ask another.

Metadata keys and tags (:mod:`.constants`), outcomes as plain data
(:mod:`.outcomes`), an audit's identity (:mod:`.audits`), the optional
metadata settings (:mod:`.include_metadata`), time ranges and partitions
(:mod:`.partitions`), the model graph (:mod:`.model_graph`) and readable
messages for a broken project (:mod:`.diagnostics`). Pure: nothing here
runs SQLMesh, starts a process or writes a file.

May import: nothing of the integration (the lowest layer).
"""
