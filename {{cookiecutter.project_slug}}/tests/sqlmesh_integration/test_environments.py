"""Environments: a run in dev leaves prod alone; the plan report says what applying does, and what the
change does to the rows (a data diff); promotion does it."""

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from dagster import AssetKey, DagsterInstance, Definitions
from small_projects import write_duckdb_config

from {{ cookiecutter.package_name }}.sqlmesh_integration import (
    PlanReport,
    SQLMeshResource,
    SQLMeshRunResults,
    build_plan,
    sqlmesh_assets,
    sqlmesh_environment_jobs,
)
from {{ cookiecutter.package_name }}.sqlmesh_integration.environments.data_diff import data_diffs

SOURCE = "MODEL (name raw.amounts, kind FULL);\nSELECT 1 AS id, 10 AS amount UNION ALL SELECT 2, 20\n"
TOTAL = "MODEL (name marts.total, kind FULL);\nSELECT SUM(amount) AS amount FROM raw.amounts\n"
DOUBLED = "MODEL (name marts.total, kind FULL);\nSELECT SUM(amount) * 2 AS amount FROM raw.amounts\n"
REPORT = "MODEL (name marts.report, kind FULL);\nSELECT amount FROM marts.total\n"


class Project:
    """A SQLMesh project on a DuckDB file, and Dagster definitions of it in one environment or another."""

    def __init__(self, root: Path, models: dict[str, str] | None = None) -> None:
        self.dir = root / "sqlmesh_project"
        self.warehouse = root / "warehouse.duckdb"
        (self.dir / "models").mkdir(parents=True)
        write_duckdb_config(self.dir, self.warehouse, start="2025-01-01")
        for name, text in (models or {"amounts": SOURCE, "total": TOTAL, "report": REPORT}).items():
            self.write(name, text)

    def write(self, name: str, text: str) -> None:
        (self.dir / "models" / f"{name}.sql").write_text(text)

    def definitions(self, environment: str = "prod") -> Definitions:
        sqlmesh = SQLMeshResource(project_dir=str(self.dir), environment=environment)
        assets = sqlmesh_assets(sqlmesh)
        return Definitions(
            assets=assets,
            jobs=sqlmesh_environment_jobs(assets),
            resources={"sqlmesh": sqlmesh, "sqlmesh_results": SQLMeshRunResults()},
        )

    def materialize(self, environment: str = "prod"):
        job = self.definitions(environment).resolve_implicit_global_asset_job_def()
        return job.execute_in_process(instance=DagsterInstance.ephemeral())

    def plan_report(self, environment: str = "prod") -> PlanReport:
        context = SQLMeshResource(project_dir=str(self.dir)).load_context()
        try:
            return PlanReport.from_plan(build_plan(context, environment))
        finally:
            context.close()

    def report(self, **config: object) -> str:
        """The plan report job's markdown, run with ``config``."""
        job = self.definitions().resolve_job_def("sqlmesh_plan_report")
        run_config = {"ops": {"report_sqlmesh_plan": {"config": config}}}
        result = job.execute_in_process(run_config=run_config, instance=DagsterInstance.ephemeral())
        assert result.success
        (output,) = [e for e in result.all_events if e.event_type_value == "STEP_OUTPUT"]
        return output.event_specific_data.metadata["sqlmesh/plan"].value

    def query(self, sql: str) -> list[tuple]:
        with duckdb.connect(str(self.warehouse), read_only=True) as connection:
            return connection.execute(sql).fetchall()


@pytest.fixture
def project(tmp_path: Path) -> Project:
    project = Project(tmp_path)
    assert project.materialize().success
    return project


def test_a_run_in_dev_builds_its_views_there_and_leaves_prods_alone(project):
    project.write("total", DOUBLED)

    result = project.materialize("dev")

    metadata = {
        event.asset_key: event.materialization.metadata for event in result.get_asset_materialization_events()
    }
    total = metadata[AssetKey(["marts", "total"])]
    assert total["sqlmesh/environment"].value == "dev"
    assert total["dagster/table_name"].value.endswith("marts__dev.total")
    assert project.query("SELECT amount FROM marts__dev.total") == [(60,)]
    assert project.query("SELECT amount FROM marts.total") == [(30,)]
    # Every asset the run materialized can be queried in dev, changed or not.
    assert project.query("SELECT COUNT(*) FROM raw__dev.amounts") == [(2,)]


def test_an_unchanged_project_has_nothing_to_apply(project):
    report = project.plan_report()

    assert not report.has_changes
    assert report.markdown().endswith("nothing to apply.\n")


def test_the_report_names_each_change_its_diff_and_what_applying_evaluates(project):
    project.write("total", DOUBLED)

    report = project.plan_report()

    assert [(c.model, c.category) for c in report.directly_modified] == [("marts.total", "breaking")]
    assert [(c.model, c.category) for c in report.indirectly_modified] == [
        ("marts.report", "indirect breaking")
    ]
    assert report.directly_modified[0].diff.splitlines()[-3:] == [
        "-  SUM(amount) AS amount",
        "+  SUM(amount) * 2 AS amount",
        " FROM raw.amounts",
    ]
    assert {model for model, _, _ in report.backfill} == {"marts.total", "marts.report"}
    assert "Applying it evaluates 2 model(s), over these intervals:" in report.markdown()


def test_what_dev_built_is_promoted_without_evaluating_it_again(project):
    project.write("total", DOUBLED)
    assert project.materialize("dev").success

    report = project.plan_report()
    promotion = (
        project.definitions()
        .resolve_job_def("sqlmesh_promote")
        .execute_in_process(instance=DagsterInstance.ephemeral())
    )

    assert report.backfill == [] and "evaluates nothing" in report.markdown()
    assert promotion.success
    (output,) = [event for event in promotion.all_events if event.event_type_value == "STEP_OUTPUT"]
    assert output.event_specific_data.metadata["sqlmesh/intervals_evaluated"].value == 0
    assert project.query("SELECT amount FROM marts.total") == [(60,)]
    assert project.plan_report().has_changes is False


def test_a_removed_model_is_reported(project):
    (project.dir / "models" / "report.sql").unlink()

    report = project.plan_report()

    assert [c.model for c in report.removed] == ["marts.report"]
    assert "| removed | `marts.report` |" in report.markdown()


def test_the_jobs_build_beside_checks_of_sources(tmp_path):
    """A source's audits are checks with no asset of their own: the plan and promotion jobs still build."""
    project = Project(tmp_path)
    (project.dir / "external_models.yaml").write_text(
        "- name: landing.events\n  columns:\n    id: int\n"
        '  audits:\n    - name: not_null\n      columns: "[id]"\n'
    )
    project.write("events", "MODEL (name marts.events, kind FULL);\nSELECT id FROM landing.events\n")

    jobs = project.definitions().resolve_all_job_defs()

    assert {"sqlmesh_plan_report", "sqlmesh_promote"} <= {job.name for job in jobs}


def test_an_environment_name_sqlmesh_cannot_use_is_refused_naming_it():
    with pytest.raises(ValueError, match="'dev env' is not valid"):
        SQLMeshResource(project_dir=".", environment="dev env")


DAILY = (
    "MODEL (name raw.visits, kind INCREMENTAL_BY_TIME_RANGE (time_column day, batch_size 1), "
    "cron '@daily', tags [dagster_partitioned]);\nSELECT CAST(@start_ds AS DATE) AS day, 1 AS n\n"
)
VISITS = "MODEL (name marts.visits, kind FULL);\nSELECT COUNT(*) AS days FROM raw.visits\n"
# The same days, a row each, evaluated a hundred days at a time: the whole history in a few batches.
DAILY_IN_BATCHES = (
    "MODEL (name raw.visits, kind INCREMENTAL_BY_TIME_RANGE (time_column day, batch_size 100), "
    "cron '@daily', tags [dagster_partitioned]);\nSELECT CAST(series.day AS DATE) AS day, 1 AS n\n"
    "FROM GENERATE_SERIES(CAST(@start_ds AS DATE), CAST(@end_ds AS DATE), INTERVAL 1 DAY) AS series(day)\n"
)


def promote(project: Project, **config):
    run_config = {"ops": {"promote_sqlmesh_plan": {"config": config}}} if config else None
    job = project.definitions().resolve_job_def("sqlmesh_promote")
    return job.execute_in_process(instance=DagsterInstance.ephemeral(), run_config=run_config)


def days_in_prod(project: Project) -> int:
    (count,) = project.query("SELECT COUNT(*) FROM raw.visits")[0]
    return count


def yesterday_in_utc() -> date:
    """The last day a daily model's cron has closed: the day before today, in UTC."""
    return datetime.now(UTC).date() - timedelta(days=1)


def test_a_promoted_partitioned_model_leaves_its_history_to_runs_and_the_report_says_how(project, tmp_path):
    project.write("visits_daily", DAILY)
    project.write("visits", VISITS)
    report_file = tmp_path / "summary.md"

    before = yesterday_in_utc()
    promotion = promote(project, report_file=str(report_file))
    # The days the plan had to leave: 2025-01-01 (the project's start) to the last day ended, in UTC.
    rows = {
        f"| `raw.visits` | 2025-01-01 - {day} | `make run SELECT=raw/visits PARTITION=2025-01-01...{day}` |"
        for day in {before, yesterday_in_utc()}  # two only if the promotion ran over midnight
    }

    assert promotion.success
    assert days_in_prod(project) == 0  # no history was filled by the promotion
    assert project.query("SELECT days FROM marts.visits") == [(0,)]  # the model below it was evaluated
    (output,) = [event for event in promotion.all_events if event.event_type_value == "STEP_OUTPUT"]
    # What the job reported, in its output's metadata and in the file it was given (CI's summary).
    for text in (output.event_specific_data.metadata["sqlmesh/plan"].value, report_file.read_text()):
        lines = text.splitlines()
        assert any(
            line.startswith("Partitioned models are promoted without filling their history") for line in lines
        ), text
        assert len(rows & set(lines)) == 1, text
        # Only what the promotion evaluates is in the backfill table: the model below, not the days.
        assert "| `marts.visits` | 2025-01-01 - " in text
        assert "Applying it evaluates 1 model(s), over these intervals:" in lines


def test_promotion_with_backfill_partitions_fills_the_history_as_sqlmesh_does(project):
    project.write("visits_daily", DAILY_IN_BATCHES)

    before = yesterday_in_utc()
    assert promote(project, backfill_partitions=True).success

    # Every day from the project's start to the last day ended (in UTC), once each.
    first = date(2025, 1, 1)
    expected = {(day - first).days + 1 for day in {before, yesterday_in_utc()}}
    assert days_in_prod(project) in expected
    assert project.query("SELECT COUNT(DISTINCT day), MIN(day) FROM raw.visits") == [
        (days_in_prod(project), first)
    ]


# The plan report's data diff: what a change built in dev does to the rows, before promotion.
# Counts are checked against what SQL says of the two environments' views directly.

ORDERS = """MODEL (name raw.orders, kind FULL, grain id);
SELECT * FROM (VALUES (1, 10), (2, 20), (3, 30), (4, 40), (5, 50)) AS t(id, amount)
"""
# 2 changes amount, 5 is gone, 6 is new, and a column is added.
ORDERS_CHANGED = """MODEL (name raw.orders, kind FULL, grain id);
SELECT *, 'checked' AS note FROM (VALUES (1, 10), (2, 25), (3, 30), (4, 40), (6, 60)) AS t(id, amount)
"""
BIG = """MODEL (name marts.big_orders, kind FULL, grain id);
SELECT id, amount FROM raw.orders WHERE amount >= 30
"""
DIFF_TOTAL = "MODEL (name marts.total, kind FULL);\nSELECT SUM(amount) AS amount FROM raw.orders\n"
DIFFED = {"orders": ORDERS, "big_orders": BIG, "total": DIFF_TOTAL}


@pytest.fixture(scope="module")
def changed_in_dev(tmp_path_factory: pytest.TempPathFactory) -> Project:
    """Built once for the tests that only read it (a report writes nothing SQLMesh keeps)."""
    project = Project(tmp_path_factory.mktemp("data-diff"), DIFFED)
    assert project.materialize().success
    project.write("orders", ORDERS_CHANGED)
    assert project.materialize("dev").success
    return project


def only_in(project: Project, left: str, right: str, table: str) -> int:
    (count,) = project.query(
        f"SELECT COUNT(*) FROM {left}.{table} WHERE id NOT IN (SELECT id FROM {right}.{table})"
    )[0]
    return count


def test_the_counts_of_each_changed_model_are_what_sql_says_of_the_two_environments(changed_in_dev):
    project = changed_in_dev
    context = SQLMeshResource(project_dir=str(project.dir)).load_context()
    try:
        fqns = {fqn.split(".", 1)[1].replace('"', ""): fqn for fqn in context.models}
        diffs = {
            diff.model: diff
            for diff in data_diffs(context, "dev", "prod", [fqns["raw.orders"], fqns["marts.big_orders"]], 5)
        }
    finally:
        context.close()

    for table, schema in (("orders", "raw"), ("big_orders", "marts")):
        diff = diffs[f"{schema}.{table}"]
        assert diff.added_rows == only_in(project, f"{schema}__dev", schema, table)
        assert diff.removed_rows == only_in(project, schema, f"{schema}__dev", table)
        (changed,) = project.query(
            f"SELECT COUNT(*) FROM {schema}__dev.{table} d JOIN {schema}.{table} p USING (id) "
            "WHERE d.amount <> p.amount"
        )[0]
        assert diff.changed_rows == changed
        assert (diff.source_rows, diff.target_rows) == (
            project.query(f"SELECT COUNT(*) FROM {schema}__dev.{table}")[0][0],
            project.query(f"SELECT COUNT(*) FROM {schema}.{table}")[0][0],
        )
    # What the change is, as the numbers above must say it: 6 new, 5 gone, 2 changed, a column added.
    orders = diffs["raw.orders"]
    assert (orders.added_rows, orders.removed_rows, orders.changed_rows) == (1, 1, 1)
    assert orders.added_columns == ["note"] and orders.removed_columns == []
    assert orders.sample == [{"id": 2, "amount (dev)": 25, "amount (prod)": 20}]
    big = diffs["marts.big_orders"]  # downstream: 60 added, 50 removed, nothing changed
    assert (big.added_rows, big.removed_rows, big.changed_rows, big.added_columns) == (1, 1, 0, [])


def test_the_report_shows_the_diff_says_why_a_model_has_counts_only_and_evaluates_nothing(changed_in_dev):
    project = changed_in_dev
    before = sorted(project.query("SELECT * FROM sqlmesh._intervals"), key=str)

    text = project.report(environment="prod", diff_from="dev")

    assert sorted(project.query("SELECT * FROM sqlmesh._intervals"), key=str) == before
    assert "### Data diff: `dev` against `prod`" in text
    assert "| `raw.orders` | 5 | 5 | 1 | 1 | 1 | +note |" in text
    assert "| `marts.big_orders` | 3 | 3 | 1 | 1 | 0 | same |" in text
    assert "| `marts.total` | 1 | 1 |  |  |  | same |" in text
    assert "`marts.total`: no grain: rows cannot be matched" in text


def test_a_model_the_compared_environment_has_not_built_says_which_command_builds_it(tmp_path):
    project = Project(tmp_path, DIFFED)
    assert project.materialize().success
    project.write("orders", ORDERS_CHANGED)

    text = project.report(environment="prod", diff_from="dev")

    assert "No data diff: environment 'dev' does not exist: `make run ENV=dev` builds it." in text
    assert "Data diff" not in project.report(environment="prod")


VISITS_BY_DAY = """MODEL (
  name raw.visits,
  kind INCREMENTAL_BY_TIME_RANGE (time_column day, batch_size 1),
  start '2025-01-01',
  end '2025-01-10',
  cron '@daily',
  grain day
);
SELECT CAST(@start_ds AS DATE) AS day, {visits} AS visits
"""


def test_a_model_with_a_time_column_is_compared_over_the_days_the_environment_built(tmp_path):
    """dev built two days of a change; prod has ten: the other eight are not "removed"."""
    project = Project(tmp_path, {"visits": VISITS_BY_DAY.format(visits=1)})
    context = SQLMeshResource(project_dir=str(project.dir)).load_context()
    try:
        context.plan("prod", auto_apply=True, no_prompts=True)
        project.write("visits", VISITS_BY_DAY.format(visits=2))
        context.load()
        context.plan("dev", start="2025-01-03", end="2025-01-04", auto_apply=True, no_prompts=True)
        (fqn,) = context.models
        (diff,) = data_diffs(context, "dev", "prod", [fqn], 5)
    finally:
        context.close()

    assert project.query("SELECT COUNT(*) FROM raw.visits") == [(10,)]
    assert (diff.source_rows, diff.target_rows) == (2, 2)
    assert (diff.added_rows, diff.removed_rows, diff.changed_rows) == (0, 0, 2)
