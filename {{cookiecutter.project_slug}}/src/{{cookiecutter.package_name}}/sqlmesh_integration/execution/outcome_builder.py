"""Turning what SQLMesh did to a model into its :class:`.ModelOutcome`: the one place outcomes are built.

Building an outcome may query the warehouse (the row count of a table just
written, the intervals SQLMesh's state now holds): it is done outside the
publisher's lock, so publishing one model never waits for another's query.
"""

from dataclasses import dataclass

from sqlmesh import Context
from sqlmesh.core.environment import EnvironmentNamingInfo
from sqlmesh.core.model import Model
from sqlmesh.core.snapshot import Snapshot
from sqlmesh.utils.date import to_datetime

from ..vocabulary.audits import AuditIdentity, audit_args_key, audit_is_blocking
from ..vocabulary.outcomes import AuditOutcome, ModelEvents, ModelOutcome, ModelStatus, status_of


@dataclass(frozen=True)
class OutcomeBuilder:
    """Builds the outcomes of one execution in one SQLMesh environment."""

    context: Context
    environment: str
    count_rows: bool = True
    """Count the rows of each table written: ``row_count`` of :mod:`..vocabulary.include_metadata`."""

    def evaluated(
        self,
        model: Model,
        snapshot: Snapshot | None,
        events: ModelEvents,
        had_work: bool,
        ranged: bool = False,
    ) -> ModelOutcome:
        """A model SQLMesh was asked to evaluate, from what it said about it (see :func:`.status_of`).

        ``ranged``: a partitioned model in a run for a range, whose outcome
        carries every interval SQLMesh's state holds for it now.
        """
        outcome = ModelOutcome(
            model=model.name,
            status=status_of(events, had_work),
            error=events.error,
            duration_ms=events.duration_ms,
            intervals=events.intervals,
            audits=_audit_outcomes(events, model),
            snapshot_version=snapshot.version if snapshot else None,
            physical_table=snapshot.table_name() if snapshot else None,
            environment=self.environment,
            view=self.view(snapshot) if snapshot else None,
        )
        if ranged and snapshot is not None:
            # What SQLMesh's state holds now, not what it held when the run started.
            (current,) = self.context.state_reader.get_snapshots([snapshot.snapshot_id]).values()
            outcome.filled_intervals = [(start, end) for start, end in current.intervals]
        if outcome.status is ModelStatus.NOT_EVALUATED:
            outcome.waiting_on_signals = [name for name, _ in model.signals]
        if outcome.status is ModelStatus.UP_TO_DATE and snapshot and snapshot.intervals:
            outcome.covered_until = to_datetime(snapshot.intervals[-1][1]).isoformat()
        if self.count_rows and outcome.wrote_rows and snapshot and not model.kind.is_view:
            (outcome.row_count,) = self.context.engine_adapter.fetchone(
                f"SELECT COUNT(*) FROM {snapshot.table_name()}"
            )
        return outcome

    def audited(
        self, name: str, snapshot: Snapshot, audits: list[AuditOutcome], standalone: bool
    ) -> ModelOutcome:
        """A model (or standalone audit) of which only audits ran, against the table it has."""
        return ModelOutcome(
            model=name,
            status=ModelStatus.AUDITED,
            audits=audits,
            snapshot_version=snapshot.version,
            physical_table=None if standalone else snapshot.table_name(),
        )

    def view(self, snapshot: Snapshot) -> str:
        """The view users query for the model in this environment (``marts__dev.customers`` in dev).

        Every model a run materializes has one: in an environment other than
        prod, the run plans (and so promotes) each model that has none yet.
        """
        naming = EnvironmentNamingInfo.from_environment_catalog_mapping(
            self.context.environment_catalog_mapping,
            name=self.environment,
            suffix_target=self.context.config.environment_suffix_target,
        )
        return snapshot.qualified_view_name.for_environment(naming, dialect=self.context.default_dialect)


def blocked(name: str, reason: str) -> ModelOutcome:
    """A model SQLMesh could not start: ``reason`` says what is missing and what to do."""
    return ModelOutcome(model=name, status=ModelStatus.BLOCKED, error=reason)


def skipped(name: str) -> ModelOutcome:
    """A model (or standalone audit) not run because something it reads was not completed."""
    return ModelOutcome(model=name, status=ModelStatus.SKIPPED)


def _audit_outcomes(events: ModelEvents, model: Model) -> list[AuditOutcome]:
    """A result for every audit use that ran, by SQLMesh identity; none when the audits did not run."""
    if not events.audits_ran:
        return []
    failures = {(f.audit_name, f.args_key): f.failing_rows for f in events.audit_failures}
    outcomes = []
    for audit, args in model.audits_with_args:
        if audit.skip:
            continue
        identity = AuditIdentity(audit.name, audit_args_key(args))
        rows = failures.get((identity.audit_name, identity.args_key))
        outcomes.append(
            AuditOutcome(
                audit_name=identity.audit_name,
                args_key=identity.args_key,
                blocking=audit_is_blocking(audit.blocking, args),
                passed=rows is None,
                failing_rows=rows or 0,
            )
        )
    return outcomes
