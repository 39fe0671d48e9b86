"""A plan as a reviewer reads it: what applying it changes, and what it leaves to runs.

Kept apart from the jobs that compute and apply plans (:mod:`.environments`):
the report is plain data and markdown, built from SQLMesh's plan alone.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from dagster import AssetKey, AssetsDefinition, TimeWindowPartitionsDefinition
from sqlmesh.core.plan import Plan
from sqlmesh.core.snapshot import Snapshot, SnapshotChangeCategory

from ..vocabulary.constants import MODEL_OP_TAG
from ..vocabulary.model_graph import short_name
from .data_diff import DataDiff
from .data_diff import markdown as data_diff_markdown

_CATEGORIES = {
    SnapshotChangeCategory.BREAKING: "breaking",
    SnapshotChangeCategory.NON_BREAKING: "non-breaking",
    SnapshotChangeCategory.FORWARD_ONLY: "forward-only",
    SnapshotChangeCategory.INDIRECT_BREAKING: "indirect breaking",
    SnapshotChangeCategory.INDIRECT_NON_BREAKING: "indirect non-breaking",
    SnapshotChangeCategory.METADATA: "metadata only",
}


@dataclass
class ModelChange:
    model: str
    """The model's name as written in its file (``schema.name``)."""
    fqn: str = ""
    """SQLMesh's fully qualified name: how the Dagster assets know the model."""
    category: str = ""
    version: str = ""
    diff: str = ""


@dataclass
class PlanReport:
    """What applying a plan to an environment would change, in words a reviewer reads."""

    environment: str
    added: list[ModelChange] = field(default_factory=list)
    removed: list[ModelChange] = field(default_factory=list)
    directly_modified: list[ModelChange] = field(default_factory=list)
    indirectly_modified: list[ModelChange] = field(default_factory=list)
    backfill: list[tuple[str, str, int]] = field(default_factory=list)
    """(model, intervals, how many) SQLMesh evaluates when the plan is applied."""
    left_to_runs: list[tuple[str, str, str]] = field(default_factory=list)
    """(model, intervals, the command filling them): partitioned models promoted without backfill."""
    diff_source: str | None = None
    """The environment whose tables the data diffs compare with this one's (:mod:`.data_diff`)."""
    data_diffs: list[DataDiff] = field(default_factory=list)
    diff_note: str = ""
    """Why no model was diffed (an environment does not exist)."""
    not_diffed: int = 0
    """Changed models left out of the data diff by its limit (``diff_models``)."""

    @classmethod
    def from_plan(
        cls, plan: Plan, partitioned: Mapping[str, "PartitionedAsset"] | None = None
    ) -> "PlanReport":
        """The report of ``plan``; the models of ``partitioned`` are promoted without their backfill."""
        partitioned = partitioned or {}
        diff = plan.context_diff
        snapshots = plan.snapshots

        def change(snapshot: Snapshot, with_diff: bool = False) -> ModelChange:
            return ModelChange(
                model=snapshot.node.name,
                fqn=snapshot.name,
                category=_CATEGORIES.get(snapshot.change_category, "") if snapshot.change_category else "",
                version=snapshot.version or "",
                diff=_hunks(diff.text_diff(snapshot.name)) if with_diff else "",
            )

        indirect = {child for children in plan.indirectly_modified.values() for child in children}
        return cls(
            environment=diff.environment,
            added=sorted((change(diff.snapshots[s]) for s in diff.added), key=_by_model),
            removed=sorted(
                (ModelChange(short_name(i.name), fqn=i.name) for i in diff.removed_snapshots.values()),
                key=_by_model,
            ),
            directly_modified=sorted(
                (change(snapshots[s], with_diff=True) for s in plan.directly_modified if s not in diff.added),
                key=_by_model,
            ),
            indirectly_modified=sorted((change(snapshots[s]) for s in indirect), key=_by_model),
            backfill=sorted(
                (
                    snapshots[missing.snapshot_id].node.name,
                    missing.format_intervals(snapshots[missing.snapshot_id].node.interval_unit),
                    len(missing.intervals),
                )
                for missing in plan.missing_intervals
                if missing.snapshot_id.name not in partitioned
            ),
            left_to_runs=sorted(
                (
                    snapshots[missing.snapshot_id].node.name,
                    missing.format_intervals(snapshots[missing.snapshot_id].node.interval_unit),
                    partitioned[missing.snapshot_id.name].run_command(missing.intervals),
                )
                for missing in plan.missing_intervals
                if missing.snapshot_id.name in partitioned
            ),
        )

    @property
    def has_changes(self) -> bool:
        return bool(self.added or self.removed or self.directly_modified or self.indirectly_modified)

    @property
    def intervals_to_evaluate(self) -> int:
        return sum(count for _, _, count in self.backfill)

    def markdown(self) -> str:
        lines = [f"## SQLMesh plan for `{self.environment}`", ""]
        if not self.has_changes:
            lines.append(f"The project on disk is what `{self.environment}` has: nothing to apply.")
            return "\n".join(lines) + "\n"
        lines += ["| change | model | category |", "| --- | --- | --- |"]
        for label, changes in (
            ("added", self.added),
            ("directly modified", self.directly_modified),
            ("indirectly modified", self.indirectly_modified),
            ("removed", self.removed),
        ):
            lines += [f"| {label} | `{c.model}` | {c.category} |" for c in changes]
        lines.append("")
        if self.backfill:
            lines += [
                f"Applying it evaluates {len(self.backfill)} model(s), over these intervals:",
                "",
                "| model | intervals |",
                "| --- | --- |",
                *(f"| `{model}` | {intervals} |" for model, intervals, _ in self.backfill),
            ]
        else:
            lines.append(
                "Applying it evaluates nothing: every new version is built already (in a development "
                f"environment), so SQLMesh only points `{self.environment}`'s views at it."
            )
        if self.left_to_runs:
            lines += [
                "",
                f"Partitioned models are promoted without filling their history: these ranges stay "
                f"empty in `{self.environment}` until runs fill them (or promote with "
                "`backfill_partitions`):",
                "",
                "| model | intervals left to fill | fill them with |",
                "| --- | --- | --- |",
                *(
                    f"| `{model}` | {intervals} | `{command}` |"
                    for model, intervals, command in self.left_to_runs
                ),
            ]
        for c in self.directly_modified:
            if c.diff:
                lines += ["", f"### `{c.model}`", "", "```diff", c.diff.rstrip("\n"), "```"]
        if self.diff_source:
            lines += data_diff_markdown(self.data_diffs, self.diff_source, self.environment, self.diff_note)
            if self.not_diffed:
                lines += ["", f"{self.not_diffed} more changed model(s) not diffed (`diff_models`)."]
        return "\n".join(lines) + "\n"


def _by_model(change: ModelChange) -> str:
    return change.model


def _hunks(unified_diff: str) -> str:
    """The diff's hunks: without the file header SQLMesh leaves empty, nor the blank lines it adds.

    In a unified diff every line of a hunk starts with " ", "+", "-" or "@",
    so an empty line is never part of one.
    """
    lines = unified_diff.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("@@")), len(lines))
    return "\n".join(line for line in lines[start:] if line)


@dataclass(frozen=True)
class PartitionedAsset:
    """A partitioned model's asset, as the promotion report names it."""

    key: AssetKey
    partitions_def: TimeWindowPartitionsDefinition

    def run_command(self, intervals: Sequence[tuple[int, int]]) -> str:
        """The ``make run`` command filling the partitions that cover ``intervals`` (epoch ms)."""
        first = self.partitions_def.get_partition_key_for_timestamp(intervals[0][0] / 1000)
        last = self.partitions_def.get_partition_key_for_timestamp(intervals[-1][1] / 1000 - 1)
        span = first if first == last else f"{first}...{last}"
        return f"make run SELECT={self.key.to_user_string()} PARTITION={span}"


def partitioned_assets(assets: Sequence[AssetsDefinition]) -> dict[str, PartitionedAsset]:
    """Each partitioned model's asset, by the model's fully qualified name."""
    return {
        asset.op.tags[MODEL_OP_TAG]: PartitionedAsset(key, asset.partitions_def)
        for asset in assets
        if MODEL_OP_TAG in asset.op.tags and isinstance(asset.partitions_def, TimeWindowPartitionsDefinition)
        for key in asset.keys
    }
