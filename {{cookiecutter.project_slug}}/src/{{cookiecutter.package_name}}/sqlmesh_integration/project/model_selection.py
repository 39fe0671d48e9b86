"""Which models of a SQLMesh project are one component's assets: ``select`` and ``exclude`` in defs.yaml.

Both are SQLMesh's own selector expressions, evaluated by SQLMesh's own
selector (``sqlmesh.core.selector``), so they mean what ``sqlmesh plan
--select-model`` means: a name (``marts.orders``), a wildcard
(``marts.*``), a tag (``tag:finance``), ``+`` for what is upstream
(``+marts.orders``) or downstream (``raw.orders+``) of a model, and ``|``,
``&``, ``^`` (not) between them. The component's models are those ``select``
matches (every model when unset) that ``exclude`` does not.

A model outside them is no asset of the component: the models it selects
still depend on its key, as on a source's, so another component that
selects it (two ``defs.yaml`` on one project, each with its own ``name``)
defines that key and the graph is one. A run of the component evaluates
only its own models; what they read from the other's must be built there
first (see :meth:`.SQLMeshExecution._blocked`).
"""

from collections.abc import Mapping
from pathlib import Path

from sqlglot.errors import ParseError
from sqlmesh.core.model import Model
from sqlmesh.core.selector import NativeSelector
from sqlmesh.utils.errors import SQLMeshError


class ModelSelectionError(ValueError):
    """A ``select`` or ``exclude`` SQLMesh cannot parse, or that matches no model: names the value."""


def selected_models(
    models: Mapping[str, Model],
    select: str | None,
    exclude: str | None,
    *,
    default_catalog: str | None,
    dialect: str | None,
    project_path: str,
) -> frozenset[str] | None:
    """The fully qualified names of the models ``select`` matches and ``exclude`` does not.

    None when neither is set: every model is the component's. The names may
    include external models (whose audits then are this component's checks).
    """
    if select is None and exclude is None:
        return None
    selector = NativeSelector(
        None,  # no state: expressions are matched against the project's models only
        models=dict(models),  # type: ignore[arg-type]
        context_path=Path(project_path),
        default_catalog=default_catalog,
        dialect=dialect,
    )
    chosen = frozenset(models)
    if select is not None:
        chosen = _matching(selector, "select", select, models, project_path)
    if exclude is not None:
        chosen -= _matching(selector, "exclude", exclude, models, project_path)
    if not chosen:
        raise ModelSelectionError(
            f"select {select!r} and exclude {exclude!r} leave no model of the SQLMesh project at "
            f"{project_path}."
        )
    return frozenset(chosen)


def _matching(
    selector: NativeSelector, setting: str, expression: str, models: Mapping[str, Model], project_path: str
) -> frozenset[str]:
    """The models ``expression`` matches, or an error naming the setting and the value."""
    try:
        matched = selector.expand_model_selections([expression], models=dict(models))  # type: ignore[arg-type]
    except (ParseError, SQLMeshError, ValueError) as error:
        raise ModelSelectionError(
            f"{setting} {expression!r} is not a SQLMesh selector SQLMesh can read: {error}. Write model "
            "names (marts.orders), wildcards (marts.*), tag:<tag>, + for upstream or downstream, "
            "joined with |, & or ^ (not)."
        ) from error
    if not matched:
        raise ModelSelectionError(
            f"{setting} {expression!r} matches no model of the SQLMesh project at {project_path} "
            f"(its models: {_some_names(models)})."
        )
    return frozenset(matched)


def _some_names(models: Mapping[str, Model]) -> str:
    """A few of the project's model names, for a message."""
    names = sorted(model.name for model in models.values())
    return ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
