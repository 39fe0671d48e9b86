"""Audits that run without evaluating anything, as ``sqlmesh audit`` does.

A run that selects checks of a model but not the model itself audits the
table the model already has; the audits of external sources and standalone
audits never evaluate anything either. Each audited model yields its
outcome as soon as its audits have run.
"""

from collections.abc import Iterator
from dataclasses import dataclass

from sqlmesh import Context
from sqlmesh.core.environment import EnvironmentNamingInfo, execute_environment_statements
from sqlmesh.core.macros import RuntimeStage
from sqlmesh.core.snapshot import Snapshot, SnapshotChangeCategory
from sqlmesh.utils.date import now_timestamp

from ..vocabulary.audits import AuditIdentity, audit_args_key
from ..vocabulary.model_graph import built_by_sqlmesh
from ..vocabulary.outcomes import AuditOutcome, ModelOutcome
from .event_capture import ExecutionRecorder
from .outcome_builder import OutcomeBuilder, blocked
from .planning import Planner
from .selection import RunSelection


@dataclass(frozen=True)
class Auditor:
    """Runs the selected audits of models that are not materialized, in one environment."""

    context: Context
    planner: Planner
    recorder: ExecutionRecorder
    outcomes: OutcomeBuilder

    @property
    def environment(self) -> str:
        return self.planner.environment

    def audit(self, fqns: set[str], selection: RunSelection) -> Iterator[tuple[str, ModelOutcome]]:
        """Each of ``fqns`` with its outcome, audited (or blocked, saying why), in name order."""
        if not fqns:
            return
        environment = self.planner.environment_or_origin()  # the tables an audit reads are shared
        in_environment = (
            {s.name: s for s in self.context.state_reader.get_snapshots(environment.snapshots).values()}
            if environment
            else {}
        )
        for fqn in sorted(fqns):
            standalone = selection.models[fqn].standalone_audit
            name = fqn if standalone else self.context.get_model(fqn).name
            snapshot = self._auditable(fqn, standalone, in_environment)
            if isinstance(snapshot, str):
                self.recorder.message(f"SQLMesh: cannot audit {name}: {snapshot}", fqn)
                yield fqn, blocked(name, snapshot)
                continue
            audits = self._run_audits(fqn, name, snapshot, selection.models[fqn].audits, in_environment)
            yield fqn, self.outcomes.audited(name, snapshot, audits, standalone)

    def before_all(self, selected: set[str]) -> None:
        """Execute the project's ``before_all`` statements, as SQLMesh does before a plan or run.

        Sources are audited before SQLMesh plans or runs anything, and a
        project may use ``before_all`` to prepare what they read.
        """
        statements = getattr(self.context, "_environment_statements", [])  # SQLMesh has no public accessor
        if not statements:
            return
        execute_environment_statements(
            adapter=self.context.engine_adapter,
            environment_statements=statements,
            runtime_stage=RuntimeStage.BEFORE_ALL,
            environment_naming_info=EnvironmentNamingInfo(name=self.environment),
            default_catalog=self.context.default_catalog,
            snapshots={s.name: s for s in self.context.snapshots.values()},
            selected_models=selected,
        )

    def _run_audits(
        self,
        fqn: str,
        name: str,
        snapshot: Snapshot,
        wanted: frozenset[AuditIdentity],
        in_environment: dict[str, Snapshot],
    ) -> list[AuditOutcome]:
        # The audits read the whole table: a time-ranged audit is bounded by the
        # first and last filled intervals (a table whose interval a blocking audit
        # withheld has none yet: up to now).
        filled = snapshot.intervals or [(0, now_timestamp())]
        start, end = filled[0][0], filled[-1][1]
        self.recorder.message(f"SQLMesh: auditing {name} ({len(wanted)} audit(s)), evaluating nothing", fqn)
        results = self.context.snapshot_evaluator.audit(
            snapshot=snapshot, snapshots=in_environment, start=start, end=end
        )
        audits = []
        for result in results:
            identity = AuditIdentity(result.audit.name, audit_args_key(result.audit_args))
            if identity not in wanted or result.skipped:
                continue
            audit = AuditOutcome(
                audit_name=identity.audit_name,
                args_key=identity.args_key,
                blocking=result.blocking,
                passed=not result.count,
                failing_rows=result.count or 0,
            )
            audits.append(audit)
            self.recorder.message(
                f"SQLMesh: audit {identity.audit_name} of {name} "
                + ("passed" if audit.passed else f"failed on {audit.failing_rows} row(s)"),
                fqn,
            )
        return audits

    def _auditable(self, fqn: str, standalone: bool, in_environment: dict[str, Snapshot]) -> Snapshot | str:
        """The snapshot whose audits can run now, or why they cannot (what to do first)."""
        context = self.context
        if standalone:
            audit = context.standalone_audits[fqn]
            missing = sorted(
                context.get_model(parent).name
                for parent in audit.depends_on
                if parent not in in_environment and built_by_sqlmesh(context, parent)
            )
            if missing:
                return (
                    f"The standalone audit {fqn} reads {', '.join(missing)}, which "
                    f"{'has' if len(missing) == 1 else 'have'} no table in SQLMesh environment "
                    f"'{self.environment}' yet. Materialize {'it' if len(missing) == 1 else 'them'} "
                    "first, then execute its checks."
                )
            # Versioned from its definition: it reads the environment's tables, not one of its own.
            return in_environment.get(fqn) or _unplanned_snapshot(context, fqn)
        model = context.get_model(fqn)
        snapshot = in_environment.get(fqn) or (
            _unplanned_snapshot(context, fqn) if model.kind.is_external else None
        )
        if snapshot is not None and context.engine_adapter.table_exists(snapshot.table_name()):
            return snapshot
        if model.kind.is_external:
            return (
                f"The source table {model.name} does not exist in the warehouse, so its audits "
                "have nothing to check. Load it first (SQLMesh reads it but does not build it)."
            )
        return (
            f"{model.name} has no table in SQLMesh environment '{self.environment}' yet, "
            "so its audits have nothing to check. Materialize it first, then execute its checks."
        )


def standalone_audits_reading(context: Context, selection: RunSelection, models: set[str]) -> set[str]:
    """The selection's standalone audits that read any of ``models``: SQLMesh skips them when those fail."""
    return {
        name
        for name in selection.to_audit_only
        if selection.models[name].standalone_audit and context.standalone_audits[name].depends_on & models
    }


def _unplanned_snapshot(context: Context, fqn: str) -> Snapshot:
    """The snapshot of a source or a standalone audit, ready to audit though no plan has deployed it.

    Neither has a table SQLMesh builds: their audits read tables that exist
    already, so a version derived from the definition is all the evaluator needs.
    """
    snapshot = context.snapshots[fqn].model_copy()
    if snapshot.change_category is None:
        snapshot.categorize_as(SnapshotChangeCategory.BREAKING)
    return snapshot
