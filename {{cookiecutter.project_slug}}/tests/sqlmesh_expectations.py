"""What the Dagster definitions should hold, worked out from the SQLMesh project alone.

The definitions tests compare the integration with SQLMesh, not with itself:
nothing here calls the integration's translator or model graph. It applies
the integration's documented rules (README, "Testing") to what SQLMesh's
own ``Context`` says of the project:

- each model that is neither EXTERNAL nor EMBEDDED is one asset, keyed
  ``schema/table``, with its catalog in front when that is not the project's
  default catalog (``archive/staging/orders``);
- an EMBEDDED model has no asset: SQLMesh inlines it into the models that
  read it, so they depend on what it reads;
- an EXTERNAL model is a source key the assets reading it depend on, and its
  audits are checks on that key;
- a model's audits are checks on its asset, blocking as SQLMesh blocks (the
  audit's own setting, unless the model's use says ``blocking := ...``);
- a standalone audit is one check, of its own name, on each asset it reads;
  SQLMesh never lets one block anything;
- the component's ``select`` and ``exclude`` (``defs.yaml``), read by
  SQLMesh's own selector, leave only the models they match as assets, and a
  standalone audit only when everything it reads is among them; the other
  models stay keys the assets depend on.
"""

import re
from collections import Counter
from dataclasses import dataclass

from dagster import AssetKey
from sqlglot import exp
from sqlmesh import Context
from sqlmesh.core.model import Model
from sqlmesh.core.selector import NativeSelector

_NOT_IN_CHECK_NAMES = re.compile(r"[^A-Za-z0-9_]+")


@dataclass(frozen=True)
class ExpectedCheck:
    """One audit as a Dagster check: on which asset, of which audit, whether it blocks."""

    asset: AssetKey
    audit: str
    blocking: bool


@dataclass(frozen=True)
class ExpectedDefinitions:
    """The assets, their dependencies and their checks that SQLMesh's project calls for."""

    models: dict[AssetKey, Model]
    """The asset of each model the component defines, by its key."""
    deps: dict[AssetKey, set[AssetKey]]
    """What each asset depends on."""
    checks: Counter[ExpectedCheck]
    """Every check, counted: a model may use one audit twice, with other arguments."""


def asset_key(fqn: str, default_catalog: str | None) -> AssetKey:
    """The documented key of a table: ``schema/table``, its catalog kept unless it is the default one."""
    table = exp.to_table(fqn)
    catalog = table.catalog if table.catalog and table.catalog != default_catalog else ""
    return AssetKey([part for part in (catalog, table.db, table.name) if part])


def is_built(model: Model) -> bool:
    """Whether SQLMesh builds a table of its own for the model (neither external nor embedded)."""
    return not (model.kind.is_external or model.kind.is_embedded)


def tables_read(models: dict[str, Model], fqns: set[str]) -> set[str]:
    """The tables behind ``fqns`` once every EMBEDDED model among them is replaced by what it reads."""
    tables: set[str] = set()
    for fqn in fqns:
        model = models.get(fqn)
        if model is not None and model.kind.is_embedded:
            tables |= tables_read(models, set(model.depends_on))
        else:
            tables.add(fqn)
    return tables


def component_models(
    context: Context, default_catalog: str | None, select: str | None, exclude: str | None
) -> set[str]:
    """The models a component with this ``select`` and ``exclude`` defines, by SQLMesh's own selector."""
    models = dict(context.models)
    if select is None and exclude is None:
        return set(models)
    selector = NativeSelector(
        None,  # type: ignore[arg-type]  # expressions are matched against the project's models only
        models=context.models,
        context_path=context.path,
        default_catalog=default_catalog,
        dialect=context.default_dialect,
    )
    chosen = selector.expand_model_selections([select], models=models) if select is not None else set(models)
    if exclude is not None:
        chosen -= selector.expand_model_selections([exclude], models=models)
    return chosen


def audit_blocks(audit_blocking: bool, args: dict[str, exp.Expression]) -> bool:
    """SQLMesh's rule: a use's ``blocking := false`` (or ``true``) wins over the audit's own setting."""
    override = args.get("blocking")
    return audit_blocking if override is None else override == exp.true()


def check_name(audit_name: str) -> str:
    """A standalone audit's check name: Dagster allows letters, digits and underscores only."""
    return _NOT_IN_CHECK_NAMES.sub("_", audit_name)


def expected_definitions(
    context: Context, default_catalog: str | None, select: str | None = None, exclude: str | None = None
) -> ExpectedDefinitions:
    """What the component's definitions must hold for the project SQLMesh loaded in ``context``, whose
    default catalog SQLMesh named ``default_catalog``."""
    models = dict(context.models)
    catalog = default_catalog
    own = component_models(context, catalog, select, exclude)
    built = [model for fqn, model in models.items() if is_built(model) and fqn in own]
    assets = {asset_key(model.fqn, catalog): model for model in built}
    deps = {
        key: {asset_key(fqn, catalog) for fqn in tables_read(models, set(model.depends_on))}
        for key, model in assets.items()
    }
    checks: Counter[ExpectedCheck] = Counter()
    for fqn, model in models.items():
        if fqn not in own or model.kind.is_embedded:
            continue
        for audit, args in model.audits_with_args:
            if not audit.skip:
                blocking = audit_blocks(audit.blocking, args)
                checks[ExpectedCheck(asset_key(fqn, catalog), audit.name, blocking)] += 1
    for audit in context.standalone_audits.values():
        read = tables_read(models, set(audit.depends_on))
        if audit.skip or not read or not read <= own:
            continue
        for fqn in read:
            checks[ExpectedCheck(asset_key(fqn, catalog), audit.name, blocking=False)] += 1
    return ExpectedDefinitions(models=assets, deps=deps, checks=checks)
