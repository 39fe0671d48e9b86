"""Why a selected model cannot be built as asked, said so the reader of its step knows what to do.

An execution finds these before it evaluates anything: a model that reads a
table nobody built yet, one never deployed while ``auto_plan`` is off, one
whose kind SQLMesh never restates, one reading models the run leaves alone.
Each finding is a sentence naming the models and the next step; the
execution decides what happens to the model.
"""

from collections.abc import Collection, Iterator, Mapping

from sqlmesh import Context
from sqlmesh.core.model import Model
from sqlmesh.utils.date import to_datetime

from ..vocabulary.model_graph import built_by_sqlmesh, tables_read
from ..vocabulary.partitions import TimeRange
from .environment_state import Intervals


def blocked_models(
    context: Context,
    models: dict[str, Model],
    *,
    environment: str,
    deployed: set[str],
    auto_plan: bool,
    owned: frozenset[str] | None,
) -> dict[str, str]:
    """Models that cannot be built in this run, each with what is missing and what to do.

    A model is blocked when it reads a model that has no table in the
    environment and is not in the run (SQLMesh would fail creating its
    table with the database's "does not exist", which points at the wrong
    model), or, with ``auto_plan`` off, when it was never deployed. A model
    it reads that is not this project's asset (outside its ``select``) is
    never built here: the message says so.
    """
    reasons: dict[str, str] = {}
    for fqn, model in models.items():
        if not auto_plan and fqn not in deployed:
            reasons[fqn] = _not_deployed(model, environment)
            continue
        missing = sorted(
            parent
            for parent in tables_read(context.models, model)
            if parent not in models and parent not in deployed and built_by_sqlmesh(context, parent)
        )
        if missing:
            foreign = [parent for parent in missing if owned is not None and parent not in owned]
            reasons[fqn] = _reads_unbuilt(context, model, environment, missing, foreign)
    return reasons


def _not_deployed(model: Model, environment: str) -> str:
    return (
        f"{model.name} is not deployed to SQLMesh environment '{environment}', and "
        "auto_plan is off (SQLMESH_AUTO_PLAN=false), so this run cannot create it. Deploy "
        f"it with `sqlmesh plan {environment}` in the SQLMesh project, or turn "
        "auto_plan on, then materialize again."
    )


def _reads_unbuilt(
    context: Context, model: Model, environment: str, missing: list[str], foreign: list[str]
) -> str:
    """The model reads ``missing`` (no table yet); ``foreign`` of them are another component's to build."""
    names = [context.get_model(parent).name for parent in missing]
    foreign_names = [context.get_model(parent).name for parent in foreign]
    return (
        f"{model.name} reads {', '.join(names)}, which "
        f"{'has' if len(names) == 1 else 'have'} no table in SQLMesh environment "
        f"'{environment}' yet. Materialize {'it' if len(names) == 1 else 'them'} "
        "first, or add them to this selection."
    ) + (
        f" {', '.join(foreign_names)} {'is' if len(foreign_names) == 1 else 'are'} not this component's "
        "to build (its defs.yaml's select and exclude leave them out): materialize them with "
        "the component that selects them."
        if foreign_names
        else ""
    )


def unselected_upstream(context: Context, models: Collection[str], selected: Collection[str]) -> set[str]:
    """Models SQLMesh builds above ``models`` that this run does not materialize."""
    above = {parent for fqn in models for parent in context.dag.upstream(fqn)}
    return {
        fqn
        for fqn in above - set(selected)
        if built_by_sqlmesh(context, fqn) and not context.get_model(fqn).kind.is_embedded
    }


def reads_unfilled(
    context: Context, models: dict[str, Model], lacking: Mapping[str, Intervals]
) -> Iterator[tuple[str, str]]:
    """For each model, a line per model it reads that the run leaves alone and that lacks intervals.

    They stay unfilled (a run evaluates only what it selected), so the
    model reads what they hold: the line names them and what to run.
    """
    for fqn in sorted(models):
        for parent in sorted(set(context.dag.upstream(fqn)) & set(lacking)):
            parent_name = context.get_model(parent).name
            yield (
                fqn,
                f"SQLMesh: {models[fqn].name} reads {parent_name}, which this "
                f"run does not materialize and which has not filled {_ranges(lacking[parent])}: "
                f"{models[fqn].name} reads what it holds. Materialize "
                f"{parent_name} for those dates to fill them.",
            )


def _ranges(intervals: Intervals, most: int = 5) -> str:
    """Intervals (epoch milliseconds) as merged ranges of UTC times, the first ``most`` of them."""
    merged: list[list[int]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    shown = ", ".join(str(TimeRange(to_datetime(start), to_datetime(end))) for start, end in merged[:most])
    return shown + (f" and {len(merged) - most} more range(s)" if len(merged) > most else "")
