"""What a model's cron means to Dagster: when its asset is due, and when it is overdue.

Kept apart from the translator, which only asks for them: both are pure
functions of a cron and a timezone, and their rules are Dagster's. Both are
cached per cron and timezone, and the same immutable object is shared by every
model with that cron: a project has a few crons and many models, and Dagster's
cron freshness policy samples a thousand ticks of its cron each time one is
built (about 4 ms a model: 0.76 s of the 1.25 s the definitions took at 200
models before they were cached).
"""

import functools
from datetime import datetime, timedelta

from dagster import AutomationCondition, FreshnessPolicy
from sqlmesh.utils.cron import CroniterCache, interval_seconds

_PERIOD_SAMPLE_START = datetime(2024, 1, 1)
"""Crons are sampled from here (a leap year's January, so a February is in the sample)."""
_PERIOD_SAMPLE_TICKS = 1000
_PERIOD_SAMPLE_SPAN = timedelta(days=2 * 366)


@functools.lru_cache(maxsize=256)
def due_at_cron(cron: str, timezone: str) -> AutomationCondition:
    """Requested once at each tick of ``cron``, as SQLMesh's run would evaluate the model then.

    Unlike Dagster's ``on_cron``, it does not wait for everything upstream to
    update since the tick: SQLMesh evaluates an hourly model every hour on what
    a daily parent holds. Upstream models due at the same tick are requested in
    the same evaluation, so they run in the same run, first. What it does wait
    for is a fix: while something it reads failed its latest run, it is not
    requested; once that succeeds, it catches up on the tick it missed. For a
    time-partitioned asset, the latest complete partition is requested.
    """
    failed_upstream = AutomationCondition.any_deps_match(AutomationCondition.execution_failed())
    return (
        AutomationCondition.in_latest_time_window()
        & AutomationCondition.cron_tick_passed(cron, timezone).since_last_handled()
        & ~failed_upstream.with_label("any_deps_failed")
    ).with_label(f"due_at_cron({cron}, {timezone})")


@functools.lru_cache(maxsize=256)
def overdue_after_missed_tick(cron: str, timezone: str) -> FreshnessPolicy:
    """Dagster's cron freshness for a model SQLMesh runs at ``cron``: overdue once a tick's run is missed.

    Each tick of ``cron`` is a deadline by which the asset must have been
    materialized within one period of the cron (from the tick before). A run
    at each tick (a schedule, the automation sensor, a run you start) keeps it
    fresh, however late in the period; once a whole period passes without
    one, the UI shows the asset as failing its freshness until the next run.
    The period is the shortest gap between two ticks (a day for ``@daily``,
    28 days for ``@monthly``), as Dagster requires of the window.
    """
    return FreshnessPolicy.cron(deadline_cron=cron, lower_bound_delta=cron_period(cron), timezone=timezone)


@functools.lru_cache(maxsize=256)
def cron_period(cron: str) -> timedelta:
    """The shortest gap between two ticks of ``cron`` (UTC): what Dagster checks a window against.

    A regular cron (``@daily``, ``*/5 * * * *``) has SQLMesh's interval; an
    irregular one (``@monthly``, ``0 9 * * 1-5``) is sampled over two years or
    a thousand ticks. Cached per cron: a project has few.
    """
    regular = interval_seconds(cron)
    if regular:
        return timedelta(seconds=regular)
    ticks = CroniterCache(cron, _PERIOD_SAMPLE_START)
    previous, shortest = ticks.get_next(), None
    for _ in range(_PERIOD_SAMPLE_TICKS):
        tick = ticks.get_next()
        gap = tick - previous
        shortest = gap if shortest is None else min(shortest, gap)
        if tick - _PERIOD_SAMPLE_START.replace(tzinfo=tick.tzinfo) > _PERIOD_SAMPLE_SPAN:
            break
        previous = tick
    return shortest or timedelta(days=1)
