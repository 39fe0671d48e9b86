"""Fault injection for the reliability tests: SIGKILL the process executing SQLMesh.

Put this folder on PYTHONPATH and set SQLMESH_DAGSTER_FAULT to one of:

- ``loading``: when the executing process starts loading the SQLMesh project;
- ``evaluating``: after SQLMesh has evaluated two models, while it goes on;
- ``after_evaluating``: after SQLMesh has finished, before the execution ends its stream.

The integration executes SQLMesh in a process forked from the step's, so the
kill only happens in a forked child: a process whose pid differs from the one
that imported this file at start-up. Patches are applied as the target modules
are imported, so nothing in the project knows about them.
"""

import importlib.abc
import importlib.util
import os
import signal
import sys

FAULT = os.environ.get("SQLMESH_DAGSTER_FAULT")
STARTUP_PID = os.getpid()


def _kill_if_executing() -> None:
    if os.getpid() != STARTUP_PID:
        os.kill(os.getpid(), signal.SIGKILL)


def _patch_resource(module) -> None:
    resource = module.SQLMeshResource
    if FAULT == "loading":
        original_load = resource.load_context

        def load_context(self):
            _kill_if_executing()
            return original_load(self)

        resource.load_context = load_context
    elif FAULT == "after_evaluating":
        original_execute = resource.execute

        def execute(self, *args, **kwargs):
            value = original_execute(self, *args, **kwargs)
            _kill_if_executing()
            return value

        resource.execute = execute


def _patch_evaluator(module) -> None:
    evaluator = module.SnapshotEvaluator
    original_evaluate = evaluator.evaluate
    calls = {"count": 0}

    def evaluate(self, *args, **kwargs):
        calls["count"] += 1
        if calls["count"] > 2:
            _kill_if_executing()
        return original_evaluate(self, *args, **kwargs)

    evaluator.evaluate = evaluate


def _targets() -> dict:
    if FAULT == "evaluating":
        return {"sqlmesh.core.snapshot.evaluator": _patch_evaluator}
    if FAULT in ("loading", "after_evaluating"):
        return {"<package>.sqlmesh_integration.project.resource": _patch_resource}
    return {}


class _PatchAfterImport(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def __init__(self, targets: dict) -> None:
        self.targets = targets

    def _patch_for(self, name: str):
        for target, patch in self.targets.items():
            if name == target or (target.startswith("<package>.") and name.endswith(target[9:])):
                return patch
        return None

    def find_spec(self, name, path, target=None):
        patch = self._patch_for(name)
        if patch is None:
            return None
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        original_exec = spec.loader.exec_module

        def exec_module(module):
            original_exec(module)
            patch(module)

        spec.loader.exec_module = exec_module
        return spec


if FAULT:
    sys.meta_path.insert(0, _PatchAfterImport(_targets()))
