"""Run bare SQLMesh on a project, as `sqlmesh plan --auto-apply` does, and print what it did as JSON.

Runs inside a baked project's virtual environment, with nothing of the
project's Dagster integration: the reference the integration is compared to.
Usage:

    python bare_sqlmesh.py PROJECT_DIR plan    what the plan evaluated, failed, skipped, audited
    python bare_sqlmesh.py PROJECT_DIR counts  the row count of every model's table in prod
    python bare_sqlmesh.py PROJECT_DIR run     `sqlmesh run`: every missing interval whose cron elapsed
"""

import json
import sys
import threading
from collections import Counter
from typing import Any

from sqlmesh import Context
from sqlmesh.core.console import NoopConsole, set_console
from sqlmesh.core.notification_target import (
    GenericNotificationTarget,
    NotificationEvent,
    NotificationStatus,
)
from sqlmesh.utils.errors import AuditError, PlanError


class Outcomes(NoopConsole):
    """What SQLMesh's console is told, model by model."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()
        self.evaluated: Counter[str] = Counter()
        self.failed: set[str] = set()
        self.skipped: set[str] = set()

    def update_snapshot_evaluation_progress(
        self, snapshot, interval, batch_idx, duration_ms, *args, **kwargs
    ):
        if duration_ms is not None and not kwargs.get("audit_only"):
            with self.lock:
                self.evaluated[snapshot.name] += 1

    def log_failed_models(self, errors) -> None:
        with self.lock:
            self.failed |= {getattr(e.node, "snapshot_name", None) or e.node.name for e in errors}

    def log_skipped_models(self, snapshot_names) -> None:
        with self.lock:
            self.skipped |= set(snapshot_names)


AUDIT_FAILURES: dict[str, dict[str, int]] = {}
"""Owner (the model's name, or a standalone audit's) -> audit name -> failing rows."""


class AuditFailures(GenericNotificationTarget):
    notify_on: frozenset = frozenset({NotificationEvent.AUDIT_FAILURE})

    def send(self, notification_status: NotificationStatus, msg: str, audit_error: Any = None, **kwargs):
        if isinstance(audit_error, AuditError):
            owner = audit_error.model.fqn if audit_error.model else audit_error.audit_name
            AUDIT_FAILURES.setdefault(owner, {})[audit_error.audit_name] = audit_error.count


def plan(project: str) -> dict:
    console = Outcomes()
    set_console(console)  # before the context exists, so everything it builds reports here
    context = Context(paths=project, notification_targets=[AuditFailures()])
    try:
        context.plan(auto_apply=True, no_prompts=True)
        applied = True
    except PlanError:  # models that fail on purpose: SQLMesh leaves prod as it was
        applied = False
    return {
        "applied": applied,
        "evaluated": dict(console.evaluated),
        "failed": sorted(console.failed),
        "skipped": sorted(console.skipped),
        "audit_failures": AUDIT_FAILURES,
        "kinds": {fqn: model.kind.name.value for fqn, model in context.models.items()},
        "standalone_audits": {
            name: sorted(audit.depends_on) for name, audit in context.standalone_audits.items()
        },
    }


def counts(project: str) -> dict:
    context = Context(paths=project)
    # The models' own tables (not prod's views of them): a failed `sqlmesh plan` promotes nothing.
    stored = context.state_reader.get_snapshots([s.snapshot_id for s in context.snapshots.values()])
    result = {}
    for fqn, model in sorted(context.models.items()):
        if model.kind.is_external or model.kind.is_embedded:
            continue
        snapshot = stored.get(context.snapshots[fqn].snapshot_id)
        exists = snapshot is not None and context.engine_adapter.table_exists(snapshot.table_name())
        result[fqn] = (
            context.engine_adapter.fetchone(f"SELECT COUNT(*) FROM {snapshot.table_name()}")[0]
            if exists
            else None
        )
    return result


def run(project: str) -> dict:
    console = Outcomes()
    set_console(console)
    status = Context(paths=project).run()
    return {"failed": status.is_failure, "evaluated": dict(console.evaluated)}


if __name__ == "__main__":
    project_dir, command = sys.argv[1], sys.argv[2]
    commands = {"plan": plan, "counts": counts, "run": run}
    print(json.dumps(commands[command](project_dir), indent=1, sort_keys=True))
