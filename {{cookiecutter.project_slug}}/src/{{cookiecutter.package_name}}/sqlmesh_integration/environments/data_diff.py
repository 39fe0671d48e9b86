"""What a change does to the rows: each changed model's table in one environment against another.

A plan report says which models a change touches; this says what it does to
their data, before promotion: the columns added, removed or retyped, the rows
on each side, and, matched on the model's grain (or unique key), the rows only
in the environment with the change (added), only in the target (removed), and
in both with other values (changed), with a few of the changed rows.

It reads the tables the environments already have, through their views, with
SQLMesh's own table diff: it never evaluates a model. A model with a time
column is compared over the intervals the compared environment built only. A model without a grain
gets its counts and columns only (rows cannot be matched), and says so; a
model the compared environment has not built says which command builds it.
"""

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sqlglot import exp
from sqlmesh import Context
from sqlmesh.core.environment import Environment
from sqlmesh.core.snapshot import SnapshotTableInfo

from ..vocabulary.model_graph import short_name


@dataclass(frozen=True)
class DataDiff:
    """One model's table in ``source`` (the environment with the change) against ``target``."""

    model: str
    source_rows: int | None = None
    target_rows: int | None = None
    added_rows: int | None = None
    """Rows whose grain is only in the source environment."""
    removed_rows: int | None = None
    """Rows whose grain is only in the target environment."""
    changed_rows: int | None = None
    """Rows whose grain is in both, with other values in some column."""
    added_columns: list[str] = field(default_factory=list)
    removed_columns: list[str] = field(default_factory=list)
    retyped_columns: list[str] = field(default_factory=list)
    sample: list[dict[str, object]] = field(default_factory=list)
    """A few changed rows: each column as ``source`` and ``target`` values."""
    note: str = ""
    """Why the diff says less than it could (no grain, not built, the same table)."""
    seconds: float = 0.0


class EnvironmentMissing(Exception):
    """An environment to compare does not exist: no model can be diffed."""


def data_diffs(
    context: Context, source: str, target: str, models: Sequence[str], sample_rows: int
) -> list[DataDiff]:
    """The data diff of each of ``models`` (fully qualified names), ``source`` against ``target``.

    Raises :class:`EnvironmentMissing` naming the environment and the command that builds it.
    """
    environments = {name: context.state_reader.get_environment(name) for name in (source, target)}
    for name, environment in environments.items():
        if environment is None:
            raise EnvironmentMissing(f"environment '{name}' does not exist: {_build_hint(name)}")
    return [
        _diff_one(context, fqn, environments[source], environments[target], sample_rows) for fqn in models
    ]


def _diff_one(
    context: Context, fqn: str, source: Environment, target: Environment, sample_rows: int
) -> DataDiff:
    started = time.monotonic()
    name = short_name(fqn)
    in_source, in_target = _snapshot_in(source, fqn), _snapshot_in(target, fqn)
    if in_source is None:
        return DataDiff(name, note=f"not built in '{source.name}': {_build_hint(source.name)}")
    if in_target is not None and in_source.version == in_target.version:
        return DataDiff(name, note="the same table in both environments: no data changed")
    adapter = context.engine_adapter
    source_view = in_source.qualified_view_name.for_environment(source.naming_info, adapter.dialect)
    if in_target is None:
        rows = _count(context, source_view)
        return DataDiff(
            name, source_rows=rows, note=f"new in '{source.name}'", seconds=time.monotonic() - started
        )
    target_view = in_target.qualified_view_name.for_environment(target.naming_info, adapter.dialect)
    within = _built_range(context, fqn, in_source)
    if within is not None and within == exp.false():
        return DataDiff(name, note=f"no interval built in '{source.name}': {_build_hint(source.name)}")
    grain = context.get_model(fqn).on
    if not grain:
        columns = _column_changes(
            context.engine_adapter.columns(source_view), context.engine_adapter.columns(target_view)
        )
        return DataDiff(
            name,
            source_rows=_count(context, source_view, within),
            target_rows=_count(context, target_view, within),
            **columns,
            note="no grain: rows cannot be matched (give the model a `grain` to see added, removed and "
            "changed rows)",
            seconds=time.monotonic() - started,
        )
    (diff,) = context.table_diff(
        source=source_view, target=target_view, on=grain, where=within, show=False, limit=sample_rows
    )
    rows = diff.row_diff()
    return DataDiff(
        name,
        source_rows=rows.source_count,
        target_rows=rows.target_count,
        added_rows=rows.s_only_count,
        removed_rows=rows.t_only_count,
        changed_rows=rows.partial_match_count,
        **_column_changes(diff.source_schema, diff.target_schema),
        sample=_sample(rows.joined_sample, sample_rows, source.name, target.name),
        seconds=time.monotonic() - started,
    )


def _snapshot_in(environment: Environment, fqn: str) -> SnapshotTableInfo | None:
    return next((snapshot for snapshot in environment.snapshots if snapshot.name == fqn), None)


def _count(context: Context, view: str, within: exp.Expr | None = None) -> int:
    (count,) = context.engine_adapter.fetchone(exp.select("COUNT(*)").from_(view).where(within))
    return int(count)


def _built_range(context: Context, fqn: str, in_source: SnapshotTableInfo) -> exp.Expr | None:
    """For a model with a time column, the rows of the intervals the source environment built.

    A partitioned model is built in dev for the days a change was tried on, while
    prod holds its whole history: comparing whole tables would call the rest removed.
    None: the whole table (no time column); FALSE: no interval built.
    """
    model = context.get_model(fqn)
    if not model.time_column:
        return None
    snapshot = context.state_reader.get_snapshots([in_source.snapshot_id])[in_source.snapshot_id]
    if not snapshot.intervals:
        return exp.false()
    column = exp.column(model.time_column.column.name)
    return exp.or_(
        *(
            exp.and_(
                column >= model.convert_to_time_column(start), column < model.convert_to_time_column(end)
            )
            for start, end in snapshot.intervals
        )
    )


def _column_changes(source: Mapping[str, object], target: Mapping[str, object]) -> dict[str, list[str]]:
    """The columns the source environment added, removed and retyped, from each side's columns."""
    return {
        "added_columns": [column for column in source if column not in target],
        "removed_columns": [column for column in target if column not in source],
        "retyped_columns": sorted(c for c in source if c in target and source[c] != target[c]),
    }


def _sample(joined: object, limit: int, source: str, target: str) -> list[dict[str, object]]:
    """The first ``limit`` changed rows: the grain, then each differing column on each side."""
    records = joined.head(limit).to_dict("records")  # type: ignore[attr-defined]
    return [{_side(column, source, target): _plain(value) for column, value in r.items()} for r in records]


def _side(column: str, source: str, target: str) -> str:
    """SQLMesh's ``s__x`` and ``t__x`` as ``x (dev)`` and ``x (prod)``."""
    for prefix, environment in (("s__", source), ("t__", target)):
        if column.startswith(prefix):
            return f"{column[len(prefix) :]} ({environment})"
    return column


def _plain(value: object) -> object:
    if isinstance(value, float) and math.isnan(value):
        return None
    return value if isinstance(value, int | float | str | bool) or value is None else str(value)


def _build_hint(environment: str) -> str:
    return f"`make run ENV={environment}` builds it"


def markdown(diffs: Sequence[DataDiff], source: str, target: str, note: str = "") -> list[str]:
    """The data diffs as markdown lines: one table of counts, then each model's columns and sample.

    ``note``: why there are none (an environment is missing).
    """
    heading = ["", f"### Data diff: `{source}` against `{target}`", ""]
    if note:
        return [*heading, f"No data diff: {note}."]
    if not diffs:
        return []
    lines = [
        *heading,
        f"Rows matched on each model's grain: added (only in `{source}`), removed (only in "
        f"`{target}`), changed (in both, with other values). Nothing is evaluated: the tables each "
        "environment has are read.",
        "",
        f"| model | rows in `{source}` | rows in `{target}` | added | removed | changed | columns "
        "| seconds |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for diff in diffs:
        lines.append(
            f"| `{diff.model}` | {_cell(diff.source_rows)} | {_cell(diff.target_rows)} | "
            f"{_cell(diff.added_rows)} | {_cell(diff.removed_rows)} | {_cell(diff.changed_rows)} | "
            f"{_columns_cell(diff)} | {diff.seconds:.2f} |"
        )
    for diff in diffs:
        if diff.note:
            lines += ["", f"`{diff.model}`: {diff.note}."]
        if diff.sample:
            columns = list(diff.sample[0])
            lines += [
                "",
                f"Changed rows of `{diff.model}` (first {len(diff.sample)}):",
                "",
                "| " + " | ".join(columns) + " |",
                "| " + " | ".join("---" for _ in columns) + " |",
                *("| " + " | ".join(_cell(row[c]) for c in columns) + " |" for row in diff.sample),
            ]
    return lines


def _cell(value: object) -> str:
    return "" if value is None else str(value).replace("|", "\\|")


def _columns_cell(diff: DataDiff) -> str:
    parts = [
        *(f"+{column}" for column in diff.added_columns),
        *(f"-{column}" for column in diff.removed_columns),
        *(f"~{column}" for column in diff.retyped_columns),
    ]
    return " ".join(parts) or "same"
