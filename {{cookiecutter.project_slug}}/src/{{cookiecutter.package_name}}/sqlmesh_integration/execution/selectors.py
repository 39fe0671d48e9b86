"""The model selections an execution hands to SQLMesh's plan and run: ``*`` when it means every model.

SQLMesh reads ``select_models`` as one selector expression and normalizes
each name in it by parsing it as a table name, about 2 ms a name: a plan
expands its selection three times, a run once. Naming every model of a
1,000-model project cost a plan 2.1 s and a run 2.3 s before the first model
was evaluated. The selector ``*`` costs nothing; it is handed over only
where it selects exactly the models the names would, so what SQLMesh does is
the same either way.
"""

from collections.abc import Iterable, Mapping

from sqlmesh import Context
from sqlmesh.core.environment import Environment
from sqlmesh.core.model.kind import ModelKindName
from sqlmesh.core.snapshot import SnapshotTableInfo

EVERY_MODEL = "*"
"""SQLMesh's selector for every model it knows: the project's in a plan, the environment's in a run."""
_SYMBOLIC = (ModelKindName.EXTERNAL, ModelKindName.EMBEDDED)


def plan_selection(
    context: Context, planned: Mapping[str, str], environments: Iterable[Environment | None]
) -> list[str]:
    """The selection of a plan of ``planned`` (names by fqn): ``*`` when they are every model of the project.

    ``environments``: the plan's environment and the one SQLMesh would
    create it from. In a plan, ``*`` also selects a model such an environment
    holds and the project no longer has, and the plan would remove it; the
    names would keep it deployed. So the names are kept when one does.
    """
    if planned.keys() != context.models.keys():
        return sorted(planned.values())
    local = context.models.keys()
    for environment in environments:
        if environment is not None and any(name not in local for name in _model_names(environment)):
            return sorted(planned.values())
    return [EVERY_MODEL]


def run_selection(context: Context, environment: Environment | None, wave: Mapping[str, str]) -> list[str]:
    """The selection of a run of ``wave`` (names by fqn) in ``environment``: ``*`` when SQLMesh would
    run nothing else.

    In a run, ``*`` selects every model the environment holds, and SQLMesh
    evaluates those with intervals: every model that is not external or
    embedded, and an external or embedded one with audits of its own (SQLMesh
    would run its audits). The names are kept unless ``wave`` holds all of
    those.
    """
    if environment is None or not _runnable_names(context, environment) <= wave.keys():
        return [wave[fqn] for fqn in wave]
    return [EVERY_MODEL]


def _model_names(environment: Environment) -> Iterable[str]:
    """Its models, as it holds them now and as a plan reading its finalized state sees them."""
    for infos in (environment.snapshots, environment.finalized_or_current_snapshots):
        yield from (info.name for info in infos if info.is_model)


def _runnable_names(context: Context, environment: Environment) -> set[str]:
    """The environment's models a run of all of them would evaluate or audit.

    An external or embedded model has intervals only if it has audits, which
    only its stored snapshot says: those few are read from the state.
    """
    symbolic: list[SnapshotTableInfo] = []
    runnable: set[str] = set()
    for info in environment.snapshots:
        if not info.is_model:
            continue
        if info.kind_name in _SYMBOLIC:
            symbolic.append(info)
        else:
            runnable.add(info.name)
    if symbolic:
        stored = context.state_reader.get_snapshots([info.snapshot_id for info in symbolic])
        runnable |= {snapshot.name for snapshot in stored.values() if snapshot.evaluatable}
    return runnable
