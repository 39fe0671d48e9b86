"""Plan a SQLMesh project with SQLMesh alone and print what became of each model, as JSON.

It does what ``sqlmesh plan ENVIRONMENT --auto-apply --no-prompts`` does (through
SQLMesh's Python API, to hear which model failed or was skipped and which
audit failed) and imports nothing of the Dagster integration, so what it
reports is SQLMesh's own behaviour. The pipeline test runs it on a second
copy of the project when the Dagster run fails or skips a model: it tells
the project's own failures from the integration's. Usage, inside the
project's folder (where relative paths of its config mean what they mean to
the CLI)::

    python sqlmesh_alone.py . plan [ENVIRONMENT]
    python sqlmesh_alone.py . sources    only create the missing sources (see create_missing_sources)

ENVIRONMENT is prod unless given; give the Dagster run's own. It matters: in
a development environment whose tables it cannot clone from prod (DuckDB's),
SQLMesh makes every audit non-blocking, so a plan there passes where prod fails.
"""

import json
import sys
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlglot import exp
from sqlmesh import Context
from sqlmesh.core.console import NoopConsole, set_console
from sqlmesh.core.notification_target import GenericNotificationTarget, NotificationEvent, NotificationStatus
from sqlmesh.utils.errors import AuditError, PlanError


@dataclass
class Outcomes:
    """What SQLMesh did with each model, keyed by its fully qualified name (a standalone audit: its name)."""

    failed: dict[str, str] = field(default_factory=dict)
    """Each model that failed, with SQLMesh's error."""
    skipped: list[str] = field(default_factory=list)
    """Models not evaluated because something they read failed."""
    failed_audits: dict[str, list[str]] = field(default_factory=dict)
    """The audits that failed, by the model (or standalone audit) they belong to."""
    created_sources: list[str] = field(default_factory=list)
    """External tables that did not exist, created empty before the plan."""


class Listener(NoopConsole):
    """SQLMesh's console, told which models failed and which were skipped."""

    def __init__(self, outcomes: Outcomes) -> None:
        super().__init__()
        self.outcomes = outcomes

    def log_failed_models(self, errors: list[Any]) -> None:
        for error in errors:
            name = getattr(error.node, "snapshot_name", None) or error.node.name
            self.outcomes.failed[name] = str(error.__cause__ or error).strip()

    def log_skipped_models(self, snapshot_names: set[str]) -> None:
        self.outcomes.skipped.extend(sorted(snapshot_names))


OUTCOMES = Outcomes()
"""The one plan's outcomes (a notification target is a frozen model: it cannot hold them itself)."""


class AuditFailures(GenericNotificationTarget):
    """SQLMesh's notifications of failed audits, blocking or not, standalone or not."""

    notify_on: frozenset = frozenset({NotificationEvent.AUDIT_FAILURE})

    def send(self, notification_status: NotificationStatus, msg: str, audit_error: Any = None, **kwargs: Any):
        if isinstance(audit_error, AuditError):
            owner = audit_error.model.fqn if audit_error.model else audit_error.audit_name
            OUTCOMES.failed_audits.setdefault(owner, []).append(audit_error.audit_name)


def create_missing_sources(context: Context) -> list[str]:
    """Create each external table that does not exist, empty, with the columns external_models.yaml declares.

    A team's sources are loaded by other tools, so a scratch warehouse has none:
    the models reading them then run over no rows instead of failing on a missing
    table. A source declared without columns is left missing. Returns the names
    created.
    """
    adapter = context.engine_adapter
    created = []
    for model in context.models.values():
        if not model.kind.is_external or not model.columns_to_types or adapter.table_exists(model.fqn):
            continue
        table = exp.to_table(model.fqn)
        if table.db:
            adapter.create_schema(exp.Table(this=table.args["db"], db=table.args.get("catalog")))
        adapter.create_table(model.fqn, model.columns_to_types)
        created.append(model.name)
    return created


def plan_alone(project_dir: str, environment: str) -> Outcomes:
    """``sqlmesh plan ENVIRONMENT --auto-apply --no-prompts`` on ``project_dir``: each model's outcome."""
    outcomes = OUTCOMES
    set_console(Listener(outcomes))  # before the context exists, so everything it builds reports here
    context = Context(paths=project_dir, notification_targets=[AuditFailures()])
    outcomes.created_sources = create_missing_sources(context)
    try:
        context.plan(environment, auto_apply=True, no_prompts=True)
    except PlanError:  # models failed: what they were is in the outcomes
        pass
    finally:
        context.close()
    return outcomes


def sources_alone(project_dir: str) -> list[str]:
    """Only :func:`create_missing_sources`, with a context of its own that is closed when done."""
    context = Context(paths=project_dir)
    try:
        return create_missing_sources(context)
    finally:
        context.close()


if __name__ == "__main__":
    project, command, *environment = sys.argv[1:]
    if command == "sources":
        print(json.dumps(sources_alone(project)))
    else:
        print(json.dumps(asdict(plan_alone(project, *environment or ["prod"])), indent=1, sort_keys=True))
