"""How SQLMesh names become Dagster names.

Every name the integration shows in Dagster is decided here, in one place.
To change a convention (say, prefix every asset key with ``warehouse``),
subclass :class:`SQLMeshTranslator`, override the method and pass an instance
to :func:`sqlmesh_assets`.
"""

import re
from dataclasses import dataclass
from typing import Any

from dagster import AssetKey
from sqlglot import exp
from sqlmesh.core.model import Model

_TAG_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


@dataclass(frozen=True)
class AuditUse:
    """One audit applied to a model, with the name of the Dagster check that reports it."""

    check_name: str
    audit_name: str
    blocking: bool
    args_key: str
    """The audit's arguments rendered as SQL, to recognise its failures."""


def audit_args_key(args: dict[str, Any]) -> str:
    """A stable text form of audit arguments (``blocking`` excluded, as SQLMesh drops it)."""
    parts = []
    for name in sorted(args):
        if name == "blocking":
            continue
        value = args[name]
        parts.append(f"{name}={value.sql() if isinstance(value, exp.Expression) else value}")
    return ", ".join(parts)


class SQLMeshTranslator:
    """Derives Dagster asset keys, groups, owners, tags and checks from SQLMesh models."""

    def get_asset_key(self, fqn: str) -> AssetKey:
        """``"warehouse"."marts"."orders"`` becomes ``marts/orders``.

        The catalog is left out: with DuckDB it is only the file name. External
        tables referenced by a model go through here too, so they line up with
        assets defined elsewhere under the same convention.
        """
        table = exp.to_table(fqn)
        return AssetKey([part for part in (table.db, table.name) if part])

    def get_group_name(self, model: Model) -> str:
        """One Dagster group per SQLMesh schema."""
        return exp.to_table(model.fqn).db or "default"

    def get_description(self, model: Model) -> str | None:
        return model.description

    def get_owners(self, model: Model) -> list[str]:
        """Dagster owners are e-mail addresses or ``team:<name>``."""
        if not model.owner:
            return []
        owner = model.owner.strip()
        return [owner if "@" in owner else f"team:{_TAG_UNSAFE.sub('_', owner)}"]

    def get_tags(self, model: Model) -> dict[str, str]:
        """SQLMesh tags become Dagster tags with an empty value (shown as labels)."""
        return {_TAG_UNSAFE.sub("_", tag)[:63]: "" for tag in model.tags}

    def get_audit_uses(self, model: Model) -> list[AuditUse]:
        """One check per audit use; a second use of the same audit gets a numbered name."""
        uses = []
        seen: dict[str, int] = {}
        for audit, args in model.audits_with_args:
            if audit.skip:
                continue
            seen[audit.name] = seen.get(audit.name, 0) + 1
            check_name = audit.name if seen[audit.name] == 1 else f"{audit.name}_{seen[audit.name]}"
            uses.append(
                AuditUse(
                    check_name=check_name,
                    audit_name=audit.name,
                    blocking=_is_blocking(audit.blocking, args),
                    args_key=audit_args_key(args),
                )
            )
        return uses


def _is_blocking(audit_default: bool, args: dict[str, Any]) -> bool:
    """SQLMesh lets a model's ``blocking := false`` override the audit's own setting."""
    override = args.get("blocking")
    if override is None:
        return audit_default
    return override == exp.true()
