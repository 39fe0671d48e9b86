"""Partitions on a SQLMesh project shaped like a real one: models starting on different dates.

See ``helpers/real_partitioned_project.py`` for its shape. Every assertion
about what was evaluated reads SQLMesh's own state
(``in_project/filled_intervals.py``), not Dagster's. The backfill runs on
PostgreSQL as well (test_postgres).
"""

import pytest
from helpers.project import Scratch, probe, run
from helpers.real_partitioned_project import (
    DAILY,
    UNPARTITIONED,
    assert_backfilled_exactly,
    backfill_everything,
    day,
    filled,
    midnight,
    use_real_partitioned_project,
)

pytestmark = pytest.mark.e2e


@pytest.fixture
def scratch(starter_project, tmp_path) -> Scratch:
    scratch = starter_project.scratch(tmp_path)
    use_real_partitioned_project(scratch)
    return scratch


def test_one_command_fills_exactly_a_range_of_every_daily_model_whatever_its_start(scratch):
    assert scratch.materialize(select=["raw/events"])["status"] == "SUCCESS"

    # Every daily model in one run, though each starts on another date: one grid per unit.
    # Dagster runs one partitions definition per command: the hourly model takes a command of its own.
    selection = "tag:dagster_partitioned and not tag:hourly"
    command = ["make", "run", f"SELECT={selection}", f"PARTITION={day(12)}...{day(3)}"]
    run(command, scratch.project.root, scratch.env())

    result = probe(scratch.project.root, scratch.project.package, scratch.env(), "--summarize", "latest")
    assert result["status"] == "SUCCESS", result
    assert result["executions"] == 1
    requested = [day(n) for n in range(12, 2, -1)]
    assert result["partitions"] == {key: requested for key in DAILY}
    state = filled(scratch)
    end = midnight(2)
    assert state["staging.events_daily"] == [[midnight(12), end]]
    assert state["staging.events_py"] == [[midnight(12), end]]
    assert state["staging.events_late"] == [[midnight(10), end]]  # before its start: nothing to fill
    assert state["staging.events_recent"] == [[midnight(5), end]]  # '5 days ago'
    assert "staging.events_hourly" not in state  # not selected: not even planned

    # The unpartitioned model below them reads what they hold; its run fills no day of theirs.
    run(["make", "run"], scratch.project.root, scratch.env())
    below = probe(scratch.project.root, scratch.project.package, scratch.env(), "--summarize", "latest")
    assert below["status"] == "SUCCESS", below
    assert set(UNPARTITIONED) <= set(below["materialized"])  # with the sample's ingestion asset
    assert filled(scratch)["staging.events_daily"] == [[midnight(12), end]]
    assert scratch.query("SELECT days FROM marts.daily_summary") == [[10]]


def test_a_backfill_of_every_asset_from_the_ui_completes_and_fills_exactly_its_days(scratch):
    """As the UI's Materialize all launches it: days and hours of the same three days, and the rest."""
    backfill, runs = backfill_everything(scratch, first=4, last=2)

    assert_backfilled_exactly(scratch, backfill, runs, first=4, last=2)
