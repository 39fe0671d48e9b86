"""Definitions loaded by folder (``dg`` components): ``sqlmesh/defs.yaml`` is the SQLMesh project."""
