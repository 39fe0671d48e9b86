"""The `postgres` warehouse, against a real PostgreSQL server the tests start on 127.0.0.1.

Same outcomes as on DuckDB: one SQLMesh execution per run, failing and
skipped models, checks (in-process: the executors are compared on DuckDB,
where nothing but the executor differs). Also the production Dagster
instance (deploy/dagster.yaml), loaded against the same server.
"""

import json
import os
import shutil
from pathlib import Path

import pytest
from helpers.demo_outcomes import assert_first_demo_run, evaluated, mart_rows, on_one_utc_day
from helpers.environments import assert_dev_review_promote
from helpers.partitioned_project import (
    PARTITIONED,
    day,
    days,
    evaluated_batches,
    range_tags,
    revenue_per_day,
    use_partitioned_project,
)
from helpers.project import (
    TEMPLATE_BIN,
    InstalledProject,
    bake_around,
    probe,
    run,
    run_own_project_tests,
)
from helpers.real_partitioned_project import HOURLY, filled, use_real_partitioned_project
from helpers.real_partitioned_project import day as real_day

pytestmark = pytest.mark.e2e

# PostgreSQL's words for the sample's failing cast (DuckDB says it differently).
BAD_CAST_ERROR = 'invalid input syntax for type integer: "completed"'


@pytest.fixture(scope="module")
def demo_on_postgres(postgres, postgres_project, tmp_path_factory):
    """The demo's first run on PostgreSQL and a run after it, the same UTC day, in a database of its own.

    In-process: how steps share one execution is the executor's concern (test_shared_execution).
    Its warehouse goes on to the environments flow below, which needs prod built first.
    """

    def runs():
        scratch = postgres_project.scratch(
            tmp_path_factory.mktemp("demo-on-postgres"), copy_sqlmesh_project=True
        )
        scratch.postgres = postgres.recreate("demo_warehouse")
        first = scratch.materialize()
        return scratch, first, mart_rows(scratch), scratch.materialize(select=["marts/customers"])

    return on_one_utc_day(runs)


def test_the_demo_on_postgres_has_the_same_outcomes(demo_on_postgres):
    scratch, result, rows, again = demo_on_postgres
    # No row counts by default on PostgreSQL: a COUNT(*) reads the whole table (include_metadata).
    assert_first_demo_run(result, rows, BAD_CAST_ERROR, counts_rows=False)

    # SQLMesh's state is in PostgreSQL too: the next run finds the environment.
    assert again["executions"] == 1
    assert evaluated(again) == {}
    assert (
        again["materialized"]["marts/customers"]["sqlmesh/status"] == "up to date, not evaluated in this run"
    )
    assert scratch.query("SELECT COUNT(*) FROM sqlmesh._environments WHERE name = 'prod'") == [[1]]


def test_the_production_instance_config_loads_against_postgres(postgres, postgres_project, tmp_path):
    """deploy/dagster.yaml: storage in PostgreSQL; a real run is recorded there."""
    scratch = postgres_project.scratch(tmp_path)
    scratch.postgres = postgres.recreate("warehouse")
    shutil.copy(postgres_project.root / "deploy" / "dagster.yaml", scratch.dagster_home / "dagster.yaml")
    postgres.recreate("dagster")
    scratch.extra_env = postgres.dagster_env("dagster")
    info = run(
        [str(postgres_project.root / ".venv" / "bin" / "dagster"), "instance", "info"],
        postgres_project.root,
        scratch.env(),
    )
    assert "PostgresRunStorage" in info.stdout, info.stdout
    assert "PostgresEventLogStorage" in info.stdout, info.stdout

    result = scratch.materialize(select=["raw/orders", "staging/stg_orders"])
    assert result["status"] == "SUCCESS" and result["executions"] == 1
    # The run, read back from the Dagster instance in PostgreSQL by another process.
    again = probe(
        postgres_project.root, postgres_project.package, scratch.env(), "--summarize", result["run_id"]
    )
    assert again["status"] == "SUCCESS"
    assert scratch.query("SELECT COUNT(*) FROM staging.stg_orders") == [[55]]


def test_the_generated_projects_make_test_passes_against_postgres(postgres, postgres_project):
    """The tests of the project's SQLMesh project, as its README says (`make test TESTS=...`), with the
    POSTGRES_* settings, and the integration's tests of its records in a PostgreSQL state. Its other
    tests run on DuckDB files of their own whatever the warehouse, and are the same files in every
    bake: the demo bake runs them (test_generated_project)."""
    env = {
        **os.environ,
        "PATH": f"{TEMPLATE_BIN}{os.pathsep}{os.environ['PATH']}",
        **postgres.env("warehouse"),
    }
    run_own_project_tests(postgres_project.root, env, bake="postgres sample")


def test_partitions_on_postgres_run_and_restate_exactly_their_days(postgres, postgres_project, tmp_path):
    """A range of partitions, then one day restated, with SQLMesh's state and the data in PostgreSQL."""
    scratch = postgres_project.scratch(tmp_path)
    scratch.postgres = postgres.recreate("warehouse")
    use_partitioned_project(scratch)

    filled = scratch.materialize(select=PARTITIONED, tags=range_tags(2, 4))

    assert filled["status"] == "SUCCESS" and filled["executions"] == 1
    assert filled["partitions"] == {key: days(2, 4) for key in PARTITIONED}
    assert revenue_per_day(scratch) == {key: 60.0 for key in days(2, 4)}

    scratch.execute(f"UPDATE landing.orders SET amount = '100' WHERE order_date IN ('{day(3)}', '{day(4)}')")
    restated = scratch.materialize(
        select=PARTITIONED, tags={"dagster/partition": day(3), "sqlmesh/mode": "restate"}
    )

    assert restated["status"] == "SUCCESS" and restated["executions"] == 1
    assert restated["partitions"] == {key: [day(3)] for key in PARTITIONED}
    assert evaluated_batches(restated) == {"staging.orders": 1, "marts.daily_revenue": 1}
    assert revenue_per_day(scratch) == {day(2): 60.0, day(3): 300.0, day(4): 60.0}


def test_hours_of_the_hourly_model_on_postgres_fill_exactly_their_interval(
    postgres, postgres_project, tmp_path
):
    """A range of hours in one run, with SQLMesh's state in PostgreSQL: exactly those hours are filled.

    Days on PostgreSQL are the test above's; the whole backfill from the UI (days, hours and the
    unpartitioned assets, through the daemon) is test_real_partitions', on DuckDB: the state's
    store makes no difference to how a backfill is split into runs.
    """
    scratch = postgres_project.scratch(tmp_path)
    scratch.postgres = postgres.recreate("real_partitioned")
    use_real_partitioned_project(scratch)
    assert scratch.materialize(select=["raw/events"])["status"] == "SUCCESS"

    first, last = f"{real_day(3)}-10:00", f"{real_day(3)}-13:00"
    tags = {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}
    result = scratch.materialize(select=[HOURLY], tags=tags)

    assert (result["status"], result["executions"]) == ("SUCCESS", 1), result
    assert result["partitions"] == {HOURLY: [f"{real_day(3)}-{hour:02d}:00" for hour in range(10, 14)]}
    state = filled(scratch)
    assert state == {
        "raw.events": state["raw.events"],
        "staging.events_hourly": [[f"{real_day(3)}T10:00:00+00:00", f"{real_day(3)}T14:00:00+00:00"]],
    }, state


def test_environments_on_postgres_dev_review_promote(demo_on_postgres):
    """A change tried in dev, the plan for prod reported, then promoted, in PostgreSQL (see test_environments).

    On the warehouse the demo's first runs built (its outcomes are asserted above, from what they returned).
    """
    scratch, first, _, _ = demo_on_postgres
    assert first["status"] == "FAILURE"  # the demo's failures are beside the point here
    assert_dev_review_promote(scratch, prod_built=True)


def fill_in_connection(config: Path, postgres, database: str) -> None:
    """Fill in the empty connection `sqlmesh init postgres` writes, as a team does."""
    settings = {
        "host": "127.0.0.1",
        "port": str(postgres.port),
        "user": postgres.user,
        "password": "''",
        "database": database,
    }
    lines = []
    for line in config.read_text().splitlines():
        key = line.strip().removesuffix(":")
        lines.append(f"{line.split(':')[0]}: {settings[key]}" if key in settings else line)
    config.write_text("\n".join(lines) + "\n")


def tables_in(project: InstalledProject, postgres, database: str) -> list[str]:
    """schema.table of every table and view in ``database``, outside PostgreSQL's own schemas."""
    script = (
        "import json, sys, psycopg2\n"
        "c = psycopg2.connect(host='127.0.0.1', port=int(sys.argv[1]), user=sys.argv[2], dbname=sys.argv[3])\n"
        "k = c.cursor(); k.execute(\"SELECT table_schema || '.' || table_name FROM information_schema.tables "
        "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1\")\n"
        "print(json.dumps([row[0] for row in k.fetchall()]))\n"
    )
    result = run(
        [str(project.python), "-c", script, str(postgres.port), postgres.user, database],
        project.root,
        {**os.environ},
    )
    return json.loads(result.stdout)


def test_a_bake_around_a_postgres_project_from_sqlmesh_init_tests_apart_and_shares_the_cli_state(
    postgres, postgres_project, bake, tmp_path
):
    """`sqlmesh init postgres` with its connection filled in: tests in a database of their own, one state."""
    own = tmp_path / "team_project"
    own.mkdir()
    run([str(postgres_project.root / ".venv" / "bin" / "sqlmesh"), "init", "postgres"], own, dict(os.environ))
    fill_in_connection(own / "config.yaml", postgres, "team")
    postgres.recreate("team")
    root, env = bake_around(bake, own, warehouse="postgres")
    project = InstalledProject(root=root, package="shop_analytics")

    run_own_project_tests(root, env, bake="postgres")
    # The tests ran in team_test: the team's database is untouched.
    assert tables_in(project, postgres, "team") == []
    assert "sqlmesh._environments" in tables_in(project, postgres, "team_test")

    run(["make", "run"], root, env)
    result = probe(root, project.package, env, "--summarize", "latest")
    assert result["status"] == "SUCCESS", result
    assert result["executions"] == 1
    models = {"sqlmesh_example/seed_model", "sqlmesh_example/incremental_model", "sqlmesh_example/full_model"}
    assert set(result["materialized"]) == models
    assert "sqlmesh_example.full_model" in tables_in(project, postgres, "team")
    cli = run(["make", "sqlmesh", "ARGS=plan --no-prompts"], root, env)
    assert "No changes to plan" in cli.stdout, cli.stdout
    model = root / "sqlmesh_project" / "models" / "full_model.sql"
    model.write_text(model.read_text().replace("COUNT(DISTINCT id) AS", "COUNT(DISTINCT id) + 0 AS"))
    run(["make", "sqlmesh", "ARGS=plan --auto-apply --no-prompts"], root, env)
    run(["make", "run", "SELECT=sqlmesh_example/full_model"], root, env)
    again = probe(root, project.package, env, "--summarize", "latest")
    assert again["status"] == "SUCCESS", again
    assert again["evaluated"] == {}, again
