"""One SQLMesh execution as one object: outcomes, the plan's retry rules, what is published and when.

Each test executes a real SQLMesh project on a DuckDB file with the entry
point of a run's child process (here in the test's own process) and reads
what the execution published to its stream.
"""

import json
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
from small_projects import write_duckdb_config

from {{ cookiecutter.package_name }}.sqlmesh_integration import MaterializeMode, SQLMeshResource
from {{ cookiecutter.package_name }}.sqlmesh_integration.execution.execution_stream import (
    StreamReader,
    StreamState,
    StreamWriter,
)
from {{ cookiecutter.package_name }}.sqlmesh_integration.execution.selection import ModelSelection, RunSelection
from {{ cookiecutter.package_name }}.sqlmesh_integration.runs.ownership import execute_to_stream
from {{ cookiecutter.package_name }}.sqlmesh_integration.vocabulary.outcomes import (
    ModelEvents,
    ModelStatus,
    status_of,
)
from {{ cookiecutter.package_name }}.sqlmesh_integration.vocabulary.partitions import TimeRange

MODELS = {
    "source": "MODEL (name raw.source, kind FULL);\nSELECT 1 AS id UNION ALL SELECT 2\n",
    "good": "MODEL (name marts.good, kind FULL);\nSELECT id FROM raw.source\n",
    "bad": "MODEL (name marts.bad, kind FULL);\nSELECT CAST('not a number' AS INT) AS id FROM raw.source\n",
    "below_bad": "MODEL (name marts.below_bad, kind FULL);\nSELECT id FROM marts.bad\n",
}


class Project:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.dir = root / "sqlmesh_project"
        self.warehouse = root / "warehouse.duckdb"
        (self.dir / "models").mkdir(parents=True)
        write_duckdb_config(self.dir, self.warehouse, start="2025-01-01")
        self.runs = 0

    def write(self, name: str, text: str) -> None:
        (self.dir / "models" / f"{name}.sql").write_text(text)

    def execute(
        self, *names: str, mode: MaterializeMode = MaterializeMode.RUN, days: TimeRange | None = None
    ) -> StreamState:
        """Execute the named models; with ``days``, the partitioned ones over that range only."""
        resource = SQLMeshResource(project_dir=str(self.dir))
        fqns = {name: resource.load_context().get_model(name).fqn for name in names}
        selection = RunSelection(
            {fqn: ModelSelection(materialize=True, partitioned=days is not None) for fqn in fqns.values()},
            time_range=days,
        )
        self.runs += 1
        stream = self.root / f"events-{self.runs}.jsonl"
        execute_to_stream(resource, selection, mode, set(), StreamWriter(stream))
        state = StreamReader(stream).read()
        state.outcomes = {name: state.outcomes[fqn] for name, fqn in fqns.items()}
        return state

    def query(self, sql: str) -> list[tuple]:
        with duckdb.connect(str(self.warehouse), read_only=True) as connection:
            return connection.execute(sql).fetchall()


@pytest.fixture
def project(tmp_path: Path) -> Project:
    project = Project(tmp_path)
    for name, text in MODELS.items():
        project.write(name, text)
    return project


BAD_ONE_OUT = {
    "raw.source": ModelStatus.EVALUATED,
    "marts.good": ModelStatus.EVALUATED,
    "marts.bad": ModelStatus.FAILED,
    "marts.below_bad": ModelStatus.SKIPPED,
}
"""What the four models end as when marts.bad fails: it alone, and what is below it."""


def statuses(state: StreamState) -> dict[str, ModelStatus]:
    return {name: outcome.status for name, outcome in state.outcomes.items()}


@pytest.mark.parametrize(
    ("events", "had_work", "status"),
    [
        (ModelEvents(error="boom"), True, ModelStatus.FAILED),
        (ModelEvents(error="audit", blocking_audit_failed=True), True, ModelStatus.AUDIT_FAILED),
        (ModelEvents(skipped=True), True, ModelStatus.SKIPPED),
        (ModelEvents(evaluated_batches=1), True, ModelStatus.EVALUATED),
        (ModelEvents(), True, ModelStatus.NOT_EVALUATED),
        (ModelEvents(), False, ModelStatus.UP_TO_DATE),
    ],
)
def test_a_status_is_decided_from_what_sqlmesh_said(events, had_work, status):
    assert status_of(events, had_work) is status


def test_a_model_failing_in_the_plan_fails_alone_and_the_environment_exists_after(project):
    state = project.execute(*BAD_ONE_OUT)

    assert statuses(state) == BAD_ONE_OUT
    assert "not a number" in state.outcomes["marts.bad"].error
    assert state.end.plan_applied and state.end.error is None
    # Applied again without backfill: prod's views exist, and the next run evaluates nothing it did.
    assert project.query("SELECT COUNT(*) FROM marts.good") == [(2,)]
    again = project.execute("raw.source", "marts.good")
    assert statuses(again) == {"raw.source": ModelStatus.UP_TO_DATE, "marts.good": ModelStatus.UP_TO_DATE}
    assert not again.end.plan_applied


def test_a_model_whose_table_cannot_be_created_is_left_out_of_the_plan_with_what_is_below(project):
    project.write("bad", "MODEL (name marts.bad, kind FULL);\nSELECT no_such_column FROM raw.source\n")

    state = project.execute(*BAD_ONE_OUT)

    assert statuses(state) == BAD_ONE_OUT
    assert "no_such_column" in state.outcomes["marts.bad"].error
    assert project.query("SELECT COUNT(*) FROM marts.good") == [(2,)]


def test_each_outcome_is_published_once_and_an_evaluated_model_before_the_execution_ends(project):
    state = project.execute("raw.source", "marts.good")
    stream = (project.root / "events-1.jsonl").read_text().splitlines()

    finished = [line for line in stream if '"event": "model_finished"' in line]
    assert len(finished) == 2
    assert '"event": "ended"' in stream[-1]
    good = state.outcomes["marts.good"]
    assert (good.row_count, good.view, good.environment) == (2, "warehouse.marts.good", "prod")


def test_a_restatement_evaluates_again_what_a_run_finds_complete(project):
    project.execute("raw.source", "marts.good")

    run = project.execute("marts.good")
    restated = project.execute("marts.good", mode=MaterializeMode.RESTATE)

    assert statuses(run) == {"marts.good": ModelStatus.UP_TO_DATE}
    assert statuses(restated) == {"marts.good": ModelStatus.EVALUATED}
    assert restated.outcomes["marts.good"].row_count == 2


DAILY = (
    "MODEL (name raw.daily, kind INCREMENTAL_BY_TIME_RANGE (time_column day, batch_size 1), cron '@daily');\n"
    "SELECT CAST(@start_ds AS DATE) AS day, 1 AS n\n"
)
TOTAL = "MODEL (name marts.total, kind FULL);\nSELECT COUNT(*) AS days FROM raw.daily\n"


def test_a_run_that_does_not_select_a_model_leaves_its_intervals_alone_and_says_what_is_missing(tmp_path):
    project = Project(tmp_path)
    project.write("daily", DAILY)
    project.write("total", TOTAL)
    week = TimeRange(datetime(2025, 1, 6, tzinfo=UTC), datetime(2025, 1, 13, tzinfo=UTC))
    project.execute("raw.daily", days=week)

    state = project.execute("marts.total")

    assert statuses(state) == {"marts.total": ModelStatus.EVALUATED}
    assert project.query("SELECT days FROM marts.total") == [(7,)]  # the week, nothing more filled
    assert project.query("SELECT MIN(day), COUNT(*) FROM raw.daily") == [(datetime(2025, 1, 6).date(), 7)]
    (line,) = [
        line.text for line in state.lines_about[state_fqn(project, "marts.total")] if "reads" in line.text
    ]
    assert "marts.total reads raw.daily, which this run does not materialize" in line
    assert "[2025-01-01T00:00:00+00:00, 2025-01-06T00:00:00+00:00)" in line


def state_fqn(project: Project, name: str) -> str:
    return SQLMeshResource(project_dir=str(project.dir)).load_context().get_model(name).fqn


def test_a_blocking_audit_failing_inside_the_plan_reports_the_rows_written_and_the_version(project):
    audited = (
        "MODEL (name marts.audited, kind FULL, audits (not_null(columns := (id))));\n"
        "SELECT id FROM raw.source UNION ALL SELECT NULL\n"
    )
    project.write("audited", audited)

    state = project.execute("raw.source", "marts.audited")

    outcome = state.outcomes["marts.audited"]
    assert outcome.status is ModelStatus.AUDIT_FAILED
    assert outcome.row_count == 3  # SQLMesh wrote the rows before the audit failed
    assert outcome.snapshot_version and outcome.view == "warehouse.marts.audited"


def published_before(events: list[str], project: "Project", models: list[str], marker: str) -> None:
    """Each model's outcome is in the stream before the first line containing marker."""

    def first(text: str) -> int:
        return next(number for number, line in enumerate(events) if text in line)

    end = first(marker)
    for name in models:
        assert first(f'"model_finished", "fqn": {json.dumps(state_fqn(project, name))}') < end, name


def test_a_failure_and_what_it_skips_are_published_when_sqlmesh_knows_them_not_at_the_end(project):
    # Inside the plan's backfill (every model is new): before SQLMesh ends its pass, and before
    # the plan is applied again without backfill.
    first = project.execute(*BAD_ONE_OUT)
    events = (project.root / "events-1.jsonl").read_text().splitlines()
    assert statuses(first) == BAD_ONE_OUT
    published_before(events, project, ["marts.bad", "marts.below_bad"], "upstream of it failed")
    published_before(events, project, ["marts.bad", "marts.below_bad"], "evaluating nothing")

    # Again, in SQLMesh's run this time (the plan has nothing left to do).
    state = project.execute("marts.bad", "marts.below_bad")
    events = (project.root / "events-2.jsonl").read_text().splitlines()

    assert statuses(state) == {"marts.bad": ModelStatus.FAILED, "marts.below_bad": ModelStatus.SKIPPED}
    assert not state.end.plan_applied
    # SQLMesh names what it skipped when its pass is over: both outcomes were in the stream before.
    published_before(events, project, ["marts.bad", "marts.below_bad"], "upstream of it failed")
    assert "not a number" in state.outcomes["marts.bad"].error
