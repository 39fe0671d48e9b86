"""What SQLMesh's state holds for one environment, as an execution asks it while it runs.

Kept apart from :mod:`.execution` so the execution reads as its steps: here
are only the questions it puts to SQLMesh's state (each model's snapshot,
which intervals are missing) and the one change it makes to it behind
SQLMesh's back (forgetting a range of intervals to restate it alone).
"""

from collections.abc import Callable
from dataclasses import dataclass

from sqlmesh import Context
from sqlmesh.core.model import Model
from sqlmesh.core.snapshot import Snapshot
from sqlmesh.utils.date import to_timestamp

from ..vocabulary.partitions import TimeRange

Intervals = list[tuple[int, int]]
"""Intervals as SQLMesh's state keeps them: pairs of epoch milliseconds."""


@dataclass(frozen=True)
class WorkLeft:
    """What is left to evaluate once the plan is applied, and what the outcomes are built from."""

    runnable: dict[str, Model]
    """Models neither blocked nor settled by the plan (failed, skipped, or evaluated by it)."""
    not_restatable: dict[str, str]
    """Models a restatement asked for whose kind SQLMesh never restates, with why."""
    snapshots: dict[str, Snapshot]
    """The environment's snapshot of each runnable model."""
    in_range: set[str]
    """Runnable models evaluated over the run's range of partitions."""
    missing_before: set[str]
    """Runnable models with intervals to evaluate (over the range, for those in it)."""

    @property
    def to_evaluate(self) -> list[str]:
        return [fqn for fqn in self.runnable if fqn not in self.not_restatable]


class EnvironmentState:
    """SQLMesh's state of ``environment``: read fresh on each question, as a plan may have changed it."""

    def __init__(self, context: Context, environment: str, say: Callable[[str, str], None]) -> None:
        """``say(line, model)``: a line for the step of ``model`` (what is restated, over which range)."""
        self.context = context
        self.environment = environment
        self.say = say

    def work_left(
        self, runnable: dict[str, Model], ranged: set[str], *, restate: bool, time_range: TimeRange | None
    ) -> WorkLeft:
        """What is left of ``runnable`` to evaluate, a restatement's range forgotten first.

        ``ranged``: the models evaluated over ``time_range`` (empty without a
        range); the others over whatever they miss.
        """
        not_restatable = (
            {fqn: why_not_restatable(m) for fqn, m in runnable.items() if m.disable_restatement}
            if restate
            else {}
        )
        snapshots = self.snapshots(set(runnable))
        in_range = {fqn for fqn in runnable if fqn in ranged}
        if restate and time_range is not None:
            restated = [snapshots[fqn] for fqn in in_range - set(not_restatable) if fqn in snapshots]
            self.forget_intervals(restated, time_range)
        missing_before = self.models_with_missing_intervals(
            {fqn: s for fqn, s in snapshots.items() if fqn not in in_range}
        ) | self.models_with_missing_intervals(
            {fqn: s for fqn, s in snapshots.items() if fqn in in_range}, time_range
        )
        return WorkLeft(runnable, not_restatable, snapshots, in_range, missing_before)

    def snapshots(self, models: set[str]) -> dict[str, Snapshot]:
        """The environment's snapshot of each of ``models`` it has (none before its first plan)."""
        if not models:
            return {}
        environment = self.context.state_reader.get_environment(self.environment)
        if environment is None:
            return {}
        wanted = [s.snapshot_id for s in environment.snapshots if s.name in models]
        return {s.name: s for s in self.context.state_reader.get_snapshots(wanted).values()}

    def missing_intervals(
        self, snapshots: dict[str, Snapshot], time_range: TimeRange | None = None
    ) -> dict[str, Intervals]:
        """The intervals each snapshot lacks (within ``time_range`` when given), for those lacking any."""
        if not snapshots:
            return {}
        scheduler = self.context.scheduler(self.environment)
        bounds = (
            {"start": time_range.start, "end": time_range.end, "ignore_cron": True, "end_bounded": True}
            if time_range
            else {}
        )
        missing = scheduler.merged_missing_intervals(selected_snapshots=set(snapshots), **bounds)
        return {snapshot.name: intervals for snapshot, intervals in missing.items() if intervals}

    def models_with_missing_intervals(
        self, snapshots: dict[str, Snapshot], time_range: TimeRange | None = None
    ) -> set[str]:
        return set(self.missing_intervals(snapshots, time_range))

    def forget_intervals(self, snapshots: list[Snapshot], time_range: TimeRange) -> None:
        """Make SQLMesh's state forget ``time_range`` for exactly these snapshots, so its run evaluates it.

        SQLMesh's own restatement also clears the range of every model below,
        which a run for a few partitions of a few models must not touch.
        """
        if not snapshots:
            return
        interval = (to_timestamp(time_range.start), to_timestamp(time_range.end))
        self.context.state_sync.remove_intervals([(snapshot, interval) for snapshot in snapshots])
        for snapshot in snapshots:
            self.say(f"SQLMesh: restating {snapshot.name} over {time_range}", snapshot.name)


def why_not_restatable(model: Model) -> str:
    kind = model.kind.name.value
    return (
        f"SQLMesh does not restate {model.name}: restatement is disabled for it ({kind}"
        + (", which keeps a history that a restatement would lose" if model.kind.is_scd_type_2 else "")
        + (", whose rows are only ever appended" if model.kind.is_incremental_unmanaged else "")
        + "). Nothing was evaluated and its data is unchanged. Materialize it in 'run' mode, or set "
        "`disable_restatement false` in its kind if you mean to rebuild it."
    )
