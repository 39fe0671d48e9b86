"""What one SQLMesh execution did to each model: what SQLMesh said, and what it means.

This is the one place a status is decided (:func:`status_of`) and
described (:data:`STATUS_TEXT`). Dagster's multiprocess executor runs every
asset step in its own process, so outcomes reach the steps through a file
(see :mod:`..execution.execution_stream`): everything here is plain data that
round-trips through JSON.
"""

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class ModelStatus(StrEnum):
    """The outcome of one model in one SQLMesh execution."""

    EVALUATED = "evaluated"
    """SQLMesh evaluated the model and every blocking audit passed."""

    FAILED = "failed"
    """The evaluation raised (bad SQL, a database error): nothing was written."""

    AUDIT_FAILED = "audit_failed"
    """The rows were written, but a blocking audit failed, so SQLMesh withheld the interval."""

    SKIPPED = "skipped"
    """SQLMesh did not evaluate the model because something upstream of it failed."""

    UP_TO_DATE = "up_to_date"
    """Every interval was already complete: there was nothing to evaluate."""

    AUDITED = "audited"
    """Not evaluated: only audits ran, against the table the model already has (checks run alone)."""

    BLOCKED = "blocked"
    """SQLMesh could not start the model: something it needs does not exist yet (an upstream
    table never built, a model never deployed). ``error`` says what, and what to do."""

    NOT_EVALUATED = "not_evaluated"
    """Intervals are still missing but SQLMesh did not evaluate them (for example a cron
    interval that has not elapsed for a new model): never reported as a success."""


STATUS_TEXT = {
    ModelStatus.EVALUATED: "evaluated in this run",
    ModelStatus.AUDIT_FAILED: "evaluated in this run; the rows are written, but a blocking "
    "audit failed, so SQLMesh withheld the interval and skipped everything downstream",
    ModelStatus.UP_TO_DATE: "up to date, not evaluated in this run",
}
"""How a materialization describes the statuses that report one."""


@dataclass
class AuditFailure:
    audit_name: str
    args_key: str
    failing_rows: int


@dataclass
class ModelEvents:
    """Everything SQLMesh said about one model during one execution (see :mod:`..execution.event_capture`)."""

    evaluated_batches: int = 0
    failed_batches: int = 0
    duration_ms: int = 0
    intervals: list[tuple[str, str]] = field(default_factory=list)
    audits_ran: bool = False
    audit_failures: list[AuditFailure] = field(default_factory=list)
    error: str | None = None
    blocking_audit_failed: bool = False
    skipped: bool = False


def status_of(events: ModelEvents, had_work: bool) -> ModelStatus:
    """The status of a model SQLMesh was asked to evaluate, from what SQLMesh said about it.

    ``had_work``: the model had intervals to evaluate (or was to be restated),
    so saying nothing about it means SQLMesh did not evaluate them.
    """
    if events.error is not None:
        return ModelStatus.AUDIT_FAILED if events.blocking_audit_failed else ModelStatus.FAILED
    if events.skipped:
        return ModelStatus.SKIPPED
    if events.evaluated_batches:
        return ModelStatus.EVALUATED
    return ModelStatus.NOT_EVALUATED if had_work else ModelStatus.UP_TO_DATE


@dataclass
class AuditOutcome:
    """One audit use of a model, as it ran in this execution, by SQLMesh identity."""

    audit_name: str
    args_key: str
    blocking: bool
    passed: bool
    failing_rows: int = 0


@dataclass
class ModelOutcome:
    """What happened to one model, with the facts its Dagster asset reports."""

    model: str
    status: ModelStatus
    error: str | None = None
    duration_ms: int = 0
    intervals: list[tuple[str, str]] = field(default_factory=list)
    audits: list[AuditOutcome] = field(default_factory=list)
    row_count: int | None = None
    snapshot_version: str | None = None
    physical_table: str | None = None
    environment: str | None = None
    """The SQLMesh environment the run materialized the model in."""
    view: str | None = None
    """The view users query for the model in that environment (``catalog.marts__dev.customers``)."""
    covered_until: str | None = None
    waiting_on_signals: list[str] = field(default_factory=list)
    """The model's signals, when intervals are missing that SQLMesh did not evaluate."""
    not_restatable: str | None = None
    """Why SQLMesh does not restate this model (its kind), when a restatement asked for it."""
    waited_for: str | None = None
    """The execution (its Dagster run) that held this model, or the warehouse, while this one waited
    for it (see :mod:`..execution.coordination`)."""
    filled_intervals: list[tuple[int, int]] = field(default_factory=list)
    """For a model run over a range of partitions: every interval SQLMesh's state holds as filled
    once the execution is done with it (epoch milliseconds, end exclusive)."""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelOutcome":
        return cls(
            **{
                **data,
                "status": ModelStatus(data["status"]),
                "intervals": [tuple(i) for i in data["intervals"]],
                "filled_intervals": [tuple(i) for i in data.get("filled_intervals", [])],
                "audits": [AuditOutcome(**a) for a in data["audits"]],
            }
        )

    @property
    def done(self) -> bool:
        """Whether the model's table holds what this run asked for, so models below it may run."""
        return self.status in (ModelStatus.EVALUATED, ModelStatus.UP_TO_DATE, ModelStatus.AUDITED)

    @property
    def blocking_audit_failed(self) -> bool:
        return any(audit.blocking and not audit.passed for audit in self.audits)

    @property
    def wrote_rows(self) -> bool:
        return self.status in (ModelStatus.EVALUATED, ModelStatus.AUDIT_FAILED)


@dataclass
class ExecutionResults:
    """What a step learns from the run's SQLMesh execution: its own model's outcome, or why there is none."""

    models: dict[str, ModelOutcome]
    error: str | None = None
    """Why the execution reported no outcome for the model (a locked warehouse, a killed process)."""
