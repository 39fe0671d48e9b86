"""Questions about the project's model graph that definitions and executions both ask.

Pure functions of SQLMesh's models and DAG: what a model reads, which
models are assets, which tables SQLMesh builds, and in which order separate
SQLMesh runs must take a set of models.
"""

from collections.abc import Mapping

from sqlglot import exp
from sqlmesh import Context
from sqlmesh.core.model import Model
from sqlmesh.utils.dag import DAG


def tables_read(models: Mapping[str, Model], model: Model) -> set[str]:
    """What ``model`` reads, looking through embedded models (inlined) to what they read.

    Used for the asset graph's edges (externals included) and to find upstream
    tables a run cannot build.
    """
    tables = set()
    for fqn in model.depends_on:
        parent = models.get(fqn)
        tables |= tables_read(models, parent) if parent is not None and parent.kind.is_embedded else {fqn}
    return tables


def built_by_sqlmesh(context: Context, fqn: str) -> bool:
    """Whether SQLMesh builds this table (not an external model, nor a table it does not know)."""
    model = context.models.get(fqn)
    return model is not None and not model.kind.is_external


def unbuilt_ancestors(context: Context, fqns: Mapping[str, str]) -> dict[str, str]:
    """The embedded and external models the given models read (directly or through embedded ones),
    names by fqn.

    Neither has a table SQLMesh builds, yet each is part of the version of the
    models reading it. A plan that leaves them out renders a model below an
    embedded one against a table that does not exist, and gives a model reading
    an external one a version other than the project's, which every later run
    would take for a change to plan again.
    """
    found: dict[str, str] = {}
    pending = [parent for fqn in fqns for parent in context.get_model(fqn).depends_on]
    while pending:
        parent = context.models.get(pending.pop())
        if parent is None or parent.fqn in found:
            continue
        if parent.kind.is_embedded:
            found[parent.fqn] = parent.name
            pending.extend(parent.depends_on)
        elif parent.kind.is_external:
            found[parent.fqn] = parent.name
    return found


def waves(context: Context, fqns: list[str], ranged: set[str]) -> list[tuple[bool, list[str]]]:
    """``fqns`` in the order SQLMesh's runs must take them: a model after every model it reads.

    Models over the run's range and the others are run apart (one takes a
    start and an end, the other does not); a model goes in the first wave
    after every wave holding a model it reads, so it reads their new rows.
    Each wave is ``(over the range, models)``.
    """
    wanted = set(fqns)
    wave: dict[str, int] = {}
    for fqn in context.dag.sorted:
        if fqn not in wanted:
            continue
        kind = fqn in ranged
        above = [(wave[p], (p in ranged) != kind) for p in context.dag.upstream(fqn) if p in wave]
        wave[fqn] = max((number + changes for number, changes in above), default=0)
    ordered: dict[tuple[int, bool], list[str]] = {}
    for fqn in sorted(wave, key=lambda fqn: (wave[fqn], fqn in ranged)):
        ordered.setdefault((wave[fqn], fqn in ranged), []).append(fqn)
    return [(in_range, names) for (_, in_range), names in ordered.items()]


def evaluation_order(models: Mapping[str, Model]) -> list[str]:
    """The models SQLMesh builds, in the order SQLMesh evaluates them with one concurrent task.

    SQLMesh's scheduler takes its graph level by level (every model after what
    it reads), each level in name order; embedded and external models are no
    steps of their own, so the graph goes through them to what they read.
    """
    built = {
        fqn: model for fqn, model in models.items() if not (model.kind.is_external or model.kind.is_embedded)
    }
    return DAG(
        {fqn: {p for p in tables_read(models, model) if p in built} for fqn, model in built.items()}
    ).sorted


def downstream_of(context: Context, fqns: set[str]) -> set[str]:
    """Every model below any of ``fqns`` in the project."""
    return {below for fqn in fqns for below in context.dag.downstream(fqn)}


def is_asset_model(model: Model) -> bool:
    """Whether a SQLMesh model is a Dagster asset: the one rule the factory, schedule and tests share.

    External models are tables SQLMesh reads but does not build (upstream
    keys); embedded models are inlined into the models that select from them,
    so they have no table of their own.
    """
    return not (model.kind.is_external or model.kind.is_embedded)


def short_name(fqn: str) -> str:
    """``schema.name`` of a fully qualified name, as a model of the project names it."""
    table = exp.to_table(fqn)
    return f"{table.db}.{table.name}" if table.db else table.name
