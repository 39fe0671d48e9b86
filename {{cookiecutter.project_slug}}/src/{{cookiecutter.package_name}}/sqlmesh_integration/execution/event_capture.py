"""Capture what SQLMesh reports while it executes, model by model.

SQLMesh's Python API reports progress through a *console* and audit failures
through *notification targets*. Both are called from SQLMesh's worker threads.
The :class:`ExecutionRecorder` gathers those calls for one execution and
hands them on to the two sinks it was made with: a readable line for each
to the execution's stream, so the Dagster run log tells the story as it
happens, and each model SQLMesh has finished evaluating, with everything
SQLMesh said about it, to be reported at once. Events flow one way: from
SQLMesh, through the recorder, to the sinks.
"""

import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlmesh.core.console import NoopConsole
from sqlmesh.core.notification_target import (
    GenericNotificationTarget,
    NotificationEvent,
    NotificationStatus,
)
from sqlmesh.core.snapshot import Snapshot
from sqlmesh.utils.concurrency import NodeExecutionFailedError
from sqlmesh.utils.date import to_datetime
from sqlmesh.utils.errors import AuditError, NodeAuditsErrors

from ..vocabulary.audits import audit_args_key
from ..vocabulary.outcomes import AuditFailure, ModelEvents
from .execution_stream import LogLine


class ExecutionRecorder:
    """Collects the events of one SQLMesh execution; safe to call from any thread."""

    def __init__(
        self,
        on_line: Callable[[LogLine], None] = lambda line: None,
        on_finished: Callable[[Snapshot, ModelEvents], None] = lambda snapshot, events: None,
    ) -> None:
        """``on_finished`` receives each model once SQLMesh is done with every batch it planned
        for it in this pass, evaluated or failed (then with its error), on the thread SQLMesh
        reported from: a failure is known when it happens, not at the end of the pass."""
        self._lock = threading.Lock()
        self._on_line = on_line
        self._on_finished = on_finished
        self.models: dict[str, ModelEvents] = {}
        self._planned_batches: dict[str, int] = {}

    def _events(self, fqn: str) -> ModelEvents:
        return self.models.setdefault(fqn, ModelEvents())

    def events_of(self, fqn: str) -> ModelEvents:
        """What SQLMesh said about ``fqn`` so far (nothing yet: empty events)."""
        with self._lock:
            return self.models.get(fqn) or ModelEvents()

    def message(self, text: str, model: str | None = None) -> None:
        """A line for the run's log: about ``model`` (its fqn), or about the whole execution."""
        self._on_line(LogLine(text, model))

    def evaluation_planned(self, batches: dict[Snapshot, int]) -> None:
        """SQLMesh is about to evaluate these models, in this many batches each."""
        with self._lock:
            self._planned_batches.update({snapshot.name: count for snapshot, count in batches.items()})

    def model_started(self, snapshot: Snapshot) -> None:
        self._on_line(LogLine(f"SQLMesh: evaluating {snapshot.name}", snapshot.name, interim=True))

    def batch_finished(
        self,
        snapshot: Snapshot,
        interval: tuple[int, int],
        duration_ms: int | None,
        audits_passed: int,
        audits_failed: int,
    ) -> None:
        start, end = (_iso(ts) for ts in interval)
        # SQLMesh reports a batch from a `finally` block: a failed one while its error is raised.
        error = sys.exception() if duration_ms is None else None
        with self._lock:
            events = self._events(snapshot.name)
            if error is not None and events.error is None:
                self._failed(events, error)
            # Audit failures are notified before their batch's progress: the last batch is final.
            done = events.evaluated_batches + events.failed_batches + 1
            final = done == self._planned_batches.get(snapshot.name)
            if duration_ms is None:
                events.failed_batches += 1
            else:
                events.evaluated_batches += 1
                events.duration_ms += duration_ms
                events.intervals.append((start, end))
                events.audits_ran = events.audits_ran or (audits_passed + audits_failed) > 0
        if duration_ms is None:
            if final:
                self._on_finished(snapshot, events)
            return
        audits = (
            f", audits passed {audits_passed}, failed {audits_failed}"
            if audits_passed or audits_failed
            else ""
        )
        self.message(
            f"SQLMesh: evaluated {snapshot.name} [{start} .. {end}] in {duration_ms / 1000:.2f}s{audits}",
            snapshot.name,
        )
        if final:
            self._on_finished(snapshot, events)

    def models_failed(self, errors: list[NodeExecutionFailedError]) -> None:
        for error in errors:
            # Evaluation failures name a snapshot; failures inside a plan, a snapshot id.
            fqn = getattr(error.node, "snapshot_name", None) or getattr(error.node, "name", None)
            if fqn is None:
                continue
            cause = error.__cause__ or error
            with self._lock:
                self._failed(self._events(fqn), cause)
            self.message(f"SQLMesh: {fqn} failed: {str(cause).strip()}", fqn)

    @staticmethod
    def _failed(events: ModelEvents, cause: BaseException) -> None:
        """Record why a model failed: the database's error, or its blocking audits'."""
        events.error = str(cause).strip()
        if isinstance(cause, NodeAuditsErrors):
            events.blocking_audit_failed = True
            events.audits_ran = True

    def settled(self) -> set[str]:
        """Models that already failed or were skipped in this execution."""
        with self._lock:
            return {fqn for fqn, events in self.models.items() if events.error is not None or events.skipped}

    def model_not_created(self, fqn: str, message: str) -> None:
        """A plan could not create the model's table: it fails without being evaluated.

        SQLMesh's console has already reported the failure; this keeps the
        fuller message (the model's file) for the model's asset.
        """
        with self._lock:
            self._events(fqn).error = message

    def models_skipped(self, fqns: set[str]) -> None:
        with self._lock:
            fqns = {fqn for fqn in fqns if not self._events(fqn).skipped}
            for fqn in fqns:
                self._events(fqn).skipped = True
        for fqn in sorted(fqns):
            # Dagster does not execute a skipped model's step: the line is the whole execution's.
            self.message(f"SQLMesh: skipped {fqn} because a model or source upstream of it failed", None)

    def audit_failed(self, error: AuditError) -> None:
        if error.model is None:
            return
        failure = AuditFailure(error.audit_name, audit_args_key(error.audit_args), error.count)
        with self._lock:
            self._events(error.model.fqn).audit_failures.append(failure)
        self.message(
            f"SQLMesh: audit {error.audit_name} of {error.model.fqn} failed on {error.count} row(s)",
            error.model.fqn,
        )


def _iso(timestamp_ms: int) -> str:
    return to_datetime(timestamp_ms).isoformat()


class RecordingConsole(NoopConsole):
    """A silent SQLMesh console that hands per-model progress to a recorder."""

    def __init__(self, recorder: ExecutionRecorder) -> None:
        super().__init__()
        self.recorder = recorder

    def start_evaluation_progress(
        self,
        batched_intervals: dict[Snapshot, list[tuple[int, int]]],
        environment_naming_info: Any,
        default_catalog: str | None,
        audit_only: bool = False,
    ) -> None:
        self.recorder.evaluation_planned({s: len(batches) for s, batches in batched_intervals.items()})

    def start_snapshot_evaluation_progress(self, snapshot: Snapshot, audit_only: bool = False) -> None:
        self.recorder.model_started(snapshot)

    def update_snapshot_evaluation_progress(
        self,
        snapshot: Snapshot,
        interval: tuple[int, int],
        batch_idx: int,
        duration_ms: int | None,
        num_audits_passed: int,
        num_audits_failed: int,
        audit_only: bool = False,
        execution_stats: Any = None,
        auto_restatement_triggers: Any = None,
    ) -> None:
        self.recorder.batch_finished(snapshot, interval, duration_ms, num_audits_passed, num_audits_failed)

    def log_failed_models(self, errors: list[NodeExecutionFailedError]) -> None:
        self.recorder.models_failed(errors)

    def log_skipped_models(self, snapshot_names: set[str]) -> None:
        self.recorder.models_skipped(snapshot_names)

    def log_warning(self, short_message: str, long_message: str | None = None) -> None:
        # Audit failures arrive through AuditFailureTarget with their row counts, and
        # the warning about skipping the backfill of prod is about what the
        # integration does on purpose (it plans, then `run` backfills).
        if "audit error" in short_message or "Skipping the backfill stage" in short_message:
            return
        self.recorder.message(f"SQLMesh warning: {short_message.strip()}")

    def log_error(self, message: str, *args: Any, **kwargs: Any) -> None:
        self.recorder.message(f"SQLMesh error: {message.strip()}")


_active_recorder: ExecutionRecorder | None = None


class AuditFailureTarget(GenericNotificationTarget):
    """Receives every failed audit, blocking or not, with its failing row count.

    SQLMesh builds its notification targets once per context, so this target
    forwards to whichever recorder is active in this process.
    """

    notify_on: frozenset[NotificationEvent] = frozenset({NotificationEvent.AUDIT_FAILURE})

    def send(
        self,
        notification_status: NotificationStatus,
        msg: str,
        audit_error: AuditError | None = None,
        **kwargs: Any,
    ) -> None:
        if audit_error is not None and _active_recorder is not None:
            _active_recorder.audit_failed(audit_error)


@contextmanager
def recording(sqlmesh_context: Any, recorder: ExecutionRecorder) -> Iterator[ExecutionRecorder]:
    """Route SQLMesh's events for ``sqlmesh_context`` to ``recorder`` while inside the block."""
    global _active_recorder
    previous_console = sqlmesh_context.console
    sqlmesh_context.console = RecordingConsole(recorder)
    _active_recorder = recorder
    try:
        yield recorder
    finally:
        sqlmesh_context.console = previous_console
        _active_recorder = None
