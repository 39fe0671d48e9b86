"""SQLMesh intervals as Dagster time partitions.

An ``INCREMENTAL_BY_TIME_RANGE`` model fills intervals of its interval unit
(a day, an hour, ...). A partitioned asset shows them as time-window
partitions of the same unit, in UTC, from the model's start: one partition
is one SQLMesh interval. Every partitioned model of one unit in a project
shares one partitions definition, the project's grid for that unit, so
Dagster lets them run together, in one run for a range of partitions (a
single-run backfill), which is one SQLMesh execution. The grid starts at a
date that does not move (:func:`grid_starts`); a model that starts later, or
ends earlier, has nothing to fill in the partitions outside its own range.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from dagster import BackfillPolicy, TimeWindow, TimeWindowPartitionsDefinition
from sqlmesh.core.model import Model
from sqlmesh.core.node import IntervalUnit
from sqlmesh.utils.date import TimeLike, is_relative, to_datetime

PARTITIONED_TAG = "dagster_partitioned"
"""The SQLMesh model tag that makes a model a partitioned asset."""
UNPARTITIONED_TAG = "dagster_unpartitioned"
"""The SQLMesh model tag that keeps a model unpartitioned when the project partitions by default."""

BACKFILL_POLICY = BackfillPolicy.single_run()
"""A backfill of any range is one run: one SQLMesh execution over the whole range."""

# Dagster's own key formats: minutes where the unit is shorter than a day.
_KEY_FORMATS = {
    IntervalUnit.YEAR: "%Y-%m-%d",
    IntervalUnit.MONTH: "%Y-%m-%d",
    IntervalUnit.DAY: "%Y-%m-%d",
    IntervalUnit.HOUR: "%Y-%m-%d-%H:%M",
    IntervalUnit.HALF_HOUR: "%Y-%m-%d-%H:%M",
    IntervalUnit.QUARTER_HOUR: "%Y-%m-%d-%H:%M",
    IntervalUnit.FIVE_MINUTE: "%Y-%m-%d-%H:%M",
}


class PartitioningError(ValueError):
    """A model asked to be partitioned that cannot be: what is wrong and what to do."""


@dataclass(frozen=True)
class TimeRange:
    """A run's range of partitions as SQLMesh takes it: UTC, end exclusive."""

    start: datetime
    end: datetime

    @classmethod
    def from_window(cls, window: TimeWindow) -> "TimeRange":
        return cls(window.start.astimezone(UTC), window.end.astimezone(UTC))

    def __str__(self) -> str:
        return f"[{self.start.isoformat()}, {self.end.isoformat()})"


def wants_partitions(model: Model, by_default: bool) -> bool:
    """Whether the model's tags (or the project's default) ask for a partitioned asset.

    A tag on a model that cannot be partitioned is an error, not ignored: the
    asset would silently not be what its SQL file says.
    """
    tags = set(model.tags)
    if PARTITIONED_TAG in tags and not model.kind.is_incremental_by_time_range:
        raise PartitioningError(
            f"{model.name} has the tag '{PARTITIONED_TAG}', but only INCREMENTAL_BY_TIME_RANGE models "
            f"can be partitioned (its kind is {model.kind.name.value}). Remove the tag from its MODEL "
            "block, or make it incremental by time range."
        )
    if not model.kind.is_incremental_by_time_range:
        return False
    return PARTITIONED_TAG in tags or (by_default and UNPARTITIONED_TAG not in tags)


def grid_starts(
    models: Iterable[Model], default_start: TimeLike | None, partitioned: Callable[[Model], bool]
) -> dict[IntervalUnit, datetime]:
    """The first moment of the project's grid for each interval unit its partitioned models use.

    The earliest of the project's ``model_defaults.start`` and the models' own
    absolute starts, floored to the unit: a date that stays put, so the
    partitions Dagster shows do not move each day. A relative start
    (``'1 week ago'``) never places the grid; where every start of a unit is
    relative, the earliest of them does, and that grid moves with the clock.
    """
    fixed: dict[IntervalUnit, list[datetime]] = {}
    moving: dict[IntervalUnit, list[datetime]] = {}
    for model in models:
        if not partitioned(model):
            continue
        unit = model.interval_unit
        fixed.setdefault(unit, [])
        for start in (default_start, model.start):
            if start is not None:
                (moving if is_relative(start) else fixed).setdefault(unit, []).append(to_datetime(start))
    return {
        unit: unit.cron_floor(min(starts or moving.get(unit) or [datetime.now(UTC)])).astimezone(UTC)
        for unit, starts in fixed.items()
    }


def interval_partitions(model: Model, grid_start: datetime | None = None) -> TimeWindowPartitionsDefinition:
    """One partition per interval of the model's unit, in UTC, from the grid's start (else its own)."""
    if model.start is None:
        raise PartitioningError(
            f"{model.name} is partitioned but has no start date, so its first partition is unknown. "
            "Set `start` in its MODEL block, or `model_defaults.start` in the SQLMesh project's config."
        )
    unit = model.interval_unit
    start = grid_start or unit.cron_floor(to_datetime(model.start))
    return TimeWindowPartitionsDefinition(
        cron_schedule=unit.cron_expr,
        start=start.astimezone(UTC),
        fmt=_KEY_FORMATS[unit],
        timezone="UTC",
    )


def own_range(model: Model) -> TimeRange:
    """The part of time the model itself fills: from its start (as of now, if relative) to its end."""
    unit = model.interval_unit
    start = unit.cron_floor(to_datetime(model.start)) if model.start else datetime.min.replace(tzinfo=UTC)
    end = unit.cron_floor(to_datetime(model.end)) if model.end else datetime.max.replace(tzinfo=UTC)
    return TimeRange(start.astimezone(UTC), end.astimezone(UTC))


def outside(
    partitions: TimeWindowPartitionsDefinition, keys: Iterable[str], model_range: TimeRange
) -> list[str]:
    """The partitions among ``keys`` entirely outside the model's own range: nothing to fill there."""
    found = []
    for key in keys:
        window = partitions.time_window_for_partition_key(key)
        if window.end.astimezone(UTC) <= model_range.start or window.start.astimezone(UTC) >= model_range.end:
            found.append(key)
    return found


def filled_partition_keys(
    partitions: TimeWindowPartitionsDefinition, intervals: list[tuple[int, int]], within: TimeRange
) -> list[str]:
    """The partitions of ``within`` that SQLMesh's intervals (epoch milliseconds) cover entirely."""
    keys = []
    for key in partitions.get_partition_keys_in_time_window(TimeWindow(within.start, within.end)):
        window = partitions.time_window_for_partition_key(key)
        start, end = _millis(window.start), _millis(window.end)
        if any(low <= start and end <= high for low, high in intervals):
            keys.append(key)
    return keys


def _millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)
