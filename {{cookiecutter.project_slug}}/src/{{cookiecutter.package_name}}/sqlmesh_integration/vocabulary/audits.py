"""Audits as SQLMesh identifies them: the words the execution and the definitions share.

An execution reports each audit by its identity and the definitions name a
check for each use; both read them here, so neither needs the other.
"""

from dataclasses import dataclass
from typing import Any

from sqlglot import exp


@dataclass(frozen=True)
class AuditIdentity:
    """How SQLMesh itself identifies one audit use of a model: the audit and its arguments.

    The execution reports audits by identity; only the factory turns an
    identity into a Dagster check name, with the translator that built the
    definitions, so a custom naming scheme can never lose a result.
    """

    audit_name: str
    args_key: str
    """The audit's arguments rendered as SQL (``blocking`` left out, as SQLMesh drops it)."""


@dataclass(frozen=True)
class AuditUse:
    """One audit applied to a model, with the name of the Dagster check that reports it."""

    check_name: str
    identity: AuditIdentity
    blocking: bool

    @property
    def audit_name(self) -> str:
        return self.identity.audit_name

    @property
    def args_key(self) -> str:
        return self.identity.args_key


def audit_args_key(args: dict[str, Any]) -> str:
    """A stable text form of audit arguments (``blocking`` excluded, as SQLMesh drops it)."""
    parts = []
    for name in sorted(args):
        if name == "blocking":
            continue
        value = args[name]
        parts.append(f"{name}={value.sql() if isinstance(value, exp.Expression) else value}")
    return ", ".join(parts)


def audit_is_blocking(audit_default: bool, args: dict[str, Any]) -> bool:
    """SQLMesh lets a model's ``blocking := false`` override the audit's own setting."""
    override = args.get("blocking")
    if override is None:
        return audit_default
    return override == exp.true()
