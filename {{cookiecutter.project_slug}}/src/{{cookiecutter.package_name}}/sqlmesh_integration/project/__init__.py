"""The SQLMesh project as loaded: its config, its models, its cached definitions, its resource.

The config read as SQLMesh's CLI reads it (:mod:`.sqlmesh_config`), which
models a component takes (:mod:`.model_selection`), what the definitions need
from the project, cached by its content (:mod:`.definitions_cache`), and the
resource (:mod:`.resource`) that holds the loaded context and opens
executions on it. It sits above the execution because the resource starts
executions; an execution never loads a project.

May import: :mod:`..execution` and :mod:`..vocabulary`.
"""
