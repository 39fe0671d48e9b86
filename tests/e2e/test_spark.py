"""The `spark` warehouse, on a real Spark standalone cluster the tests start on 127.0.0.1.

One master and two workers, each a process (helpers/spark_cluster.py), shared by
this module. The bake's SQLMesh connects to the master, its state in a DuckDB
file. What differs from DuckDB is the database's wording of the failing cast.
"""

import json
import os
import shutil
from datetime import date, timedelta

import pytest
from helpers.baking import answers_of
from helpers.dagster_dev import free_port
from helpers.demo_outcomes import assert_first_demo_run, evaluated
from helpers.environments import PARTITIONED, VIP, edit, make
from helpers.environments import evaluated as evaluated_models
from helpers.project import (
    IN_PROJECT,
    TEMPLATE_BIN,
    InstalledProject,
    Scratch,
    install,
    run,
    run_own_project_tests,
)
from helpers.real_partitioned_project import filled
from helpers.sample_expectations import MART_ROW_COUNTS, PAGES_PER_DAY
from helpers.spark_cluster import java_binary, spark_cluster

pytestmark = pytest.mark.e2e

# Spark's words for the sample's failing cast, with ANSI SQL on (the bake's config).
BAD_CAST_ERROR = "CAST_INVALID_INPUT"
# The sample's model that reads the table of a Dagster asset (landing/revenue_targets).
READS_LANDING = "marts.revenue_vs_target"


@pytest.fixture(scope="module")
def spark_project(bake) -> InstalledProject:
    """The `warehouse=spark` bake, installed (pyspark with it)."""
    if java_binary() is None:
        pytest.skip("Java is not installed (.ci/run installs Debian's openjdk-17-jre-headless package)")
    root = bake({"warehouse": "spark"}, fresh=True)
    install(root)
    return InstalledProject(root=root, package="shop_analytics")


@pytest.fixture(scope="module")
def cluster(spark_project, tmp_path_factory):
    site_packages = next((spark_project.root / ".venv" / "lib").glob("python3*/site-packages"))
    folder = tmp_path_factory.mktemp("spark-cluster")
    with spark_cluster(site_packages / "pyspark", folder, (free_port(), free_port())) as running:
        yield running


def on_the_cluster(scratch: Scratch, cluster) -> Scratch:
    """The scratch's tables and SQLMesh state its own, on the cluster."""
    scratch.extra_env.update(
        {
            "SPARK_MASTER": cluster.master_url,
            "SPARK_WAREHOUSE_DIR": str(scratch.root / "spark_warehouse"),
            "SQLMESH_STATE_PATH": str(scratch.root / "sqlmesh_state.duckdb"),
            "SPARK_METASTORE_DIR": str(scratch.root / "spark_metastore"),
            **cluster.jvm_env,
        }
    )
    return scratch


def gateway_query(scratch: Scratch, *queries: str) -> list[list]:
    """Each query's rows, through the project's Spark gateway."""
    command = [
        str(scratch.project.python),
        str(IN_PROJECT / "gateway_query.py"),
        str(scratch.sqlmesh_project),
    ]
    return json.loads(run([*command, *queries], scratch.project.root, scratch.env()).stdout)


def model_name(snapshot_name: str) -> str:
    """``schema.model`` from SQLMesh's ``"catalog"."schema"."model"``."""
    return snapshot_name.replace('"', "").split(".", 1)[1]


def bare_plan(scratch: Scratch) -> dict:
    script = IN_PROJECT / "bare_sqlmesh.py"
    command = [str(scratch.project.python), str(script), str(scratch.sqlmesh_project), "plan"]
    return json.loads(run(command, scratch.project.root, scratch.env()).stdout)


@pytest.fixture(scope="module")
def demo_on_the_cluster(spark_project, cluster, tmp_path_factory) -> tuple[Scratch, dict, dict, dict]:
    """The demo's first run on the cluster, and bare SQLMesh's plan of the same models beside it.

    Returns the run's scratch (a copy of the SQLMesh project: later tests change it), what the
    run did, the marts' row counts after it, and bare SQLMesh's plan.
    """
    root = tmp_path_factory.mktemp("spark-demo")
    # Bare SQLMesh first, on tables of its own, planning the models the run selects: every
    # unpartitioned one (the partitioned ones are left out), but the one that reads the table a
    # Dagster asset writes (its outcome is the sample's, asserted from the run).
    bare = on_the_cluster(spark_project.scratch(root / "bare", copy_sqlmesh_project=True), cluster)
    shutil.rmtree(bare.sqlmesh_project / "models" / "web")
    (bare.sqlmesh_project / "models" / "marts" / f"{READS_LANDING.split('.')[1]}.sql").unlink()
    reference = bare_plan(bare)

    scratch = on_the_cluster(spark_project.scratch(root / "dagster", copy_sqlmesh_project=True), cluster)
    result = scratch.materialize()
    counts = gateway_query(scratch, *(f"SELECT COUNT(*) FROM {model}" for model in MART_ROW_COUNTS))
    return scratch, result, dict(zip(MART_ROW_COUNTS, counts, strict=True)), reference


def test_the_demo_on_a_spark_cluster_has_the_demos_outcomes_as_bare_sqlmesh_has(demo_on_the_cluster, cluster):
    _, result, counts, reference = demo_on_the_cluster
    assert_first_demo_run(result, counts, BAD_CAST_ERROR)
    # Model by model as bare SQLMesh on the same cluster: evaluated, failed, skipped, audits.
    reference_evaluated = {model_name(name): n for name, n in reference["evaluated"].items()}
    assert evaluated(result) == {**reference_evaluated, READS_LANDING: 1}
    failed = {step.replace("__", ".") for step, status in result["steps"].items() if status == "STEP_FAILURE"}
    assert failed == {model_name(name) for name in reference["failed"]}, reference
    not_executed = {model_name(name) for name in reference["skipped"]}
    assert not_executed and not {name.replace(".", "__") for name in not_executed} & set(result["steps"])
    failing_checks = {
        tuple(name.replace("/", ".").split(":")): check["failing_rows"]
        for name, check in result["checks"].items()
        if not check["passed"]
    }
    assert failing_checks == {
        (model_name(owner), audit): rows
        for owner, audits in reference["audit_failures"].items()
        for audit, rows in audits.items()
    }, reference
    # The cluster did the work: each worker ran executors of the runs' Spark applications.
    ran = cluster.applications_by_worker()
    assert len(ran) == 2 and all(ran.values()), ran


def test_a_change_tried_in_dev_on_the_cluster_is_diffed_then_promoted_without_evaluating_it_again(
    demo_on_the_cluster,
):
    """The environments flow on Spark: dev builds only the change, the plan report diffs the rows
    dev built against prod's, and promotion evaluates nothing (test_environments has every step)."""
    scratch, _, counts, _ = demo_on_the_cluster
    report = scratch.root / "plan.md"
    # The demo's failing models leave the project first. After their failure, whether prod holds
    # them depends on timing: Spark may leave files of the failed CTAS in the table's folder, and
    # then refuses to create that table again (LOCATION_ALREADY_EXISTS, docs/deployment.md), so
    # the plan would evaluate them (or only remove them). Removing them evaluates nothing.
    shutil.rmtree(scratch.sqlmesh_project / "models" / "failure_demo")
    edit(
        scratch.sqlmesh_project / "models" / "marts" / "customers.sql",
        "AS lifetime_value\nFROM staging.stg_customers",
        "AS lifetime_value,\n" + VIP,
    )

    dev = make(scratch, "run", "ENV=dev", "SELECT=marts/customers")
    assert (dev["status"], evaluated_models(dev)) == ("SUCCESS", {"marts.customers"}), dev
    assert dev["materialized"]["marts/customers"]["dagster/table_name"].endswith("marts__dev.customers")

    make(scratch, "plan", f"REPORT={report}", "ENV=dev")
    text = report.read_text()
    ((rows,),) = counts["marts.customers"]
    # Every customer on both sides, none added, removed or changed in the columns both have.
    assert f"| `marts.customers` | {rows} | {rows} | 0 | 0 | 0 | +is_vip |" in text, text
    assert "Applying it evaluates nothing" in text

    promoted = make(scratch, "promote")
    assert (promoted["status"], evaluated_models(promoted)) == ("SUCCESS", set()), promoted
    # prod's view now shows the table dev built.
    vips = "SELECT customer_id FROM {}.customers WHERE is_vip ORDER BY customer_id"
    in_prod, in_dev = gateway_query(scratch, vips.format("marts"), vips.format("marts__dev"))
    assert in_prod and in_prod == in_dev


def test_a_weeks_partition_run_on_the_cluster_evaluates_exactly_that_week(spark_project, cluster, tmp_path):
    """The sample's partitioned models for the first week of the bake's start date, as one run."""
    scratch = on_the_cluster(spark_project.scratch(tmp_path), cluster)
    start = date.fromisoformat(answers_of(spark_project.root)["start_date"])
    week = [(start + timedelta(days=number)).isoformat() for number in range(7)]
    tags = {"dagster/asset_partition_range_start": week[0], "dagster/asset_partition_range_end": week[-1]}

    result = scratch.materialize(select=PARTITIONED, tags=tags)

    assert (result["status"], result["executions"]) == ("SUCCESS", 1), result
    assert result["partitions"] == {key: week for key in PARTITIONED}
    # SQLMesh's state holds that week as filled, and nothing else; the tables hold its days.
    the_week = [[f"{week[0]}T00:00:00+00:00", f"{start + timedelta(days=7)}T00:00:00+00:00"]]
    assert filled(scratch) == {"web.page_views": the_week, "web.daily_traffic": the_week}
    days_held = "SELECT MIN(view_date), MAX(view_date), COUNT(*) FROM {}"
    assert gateway_query(scratch, *(days_held.format(key.replace("/", ".")) for key in PARTITIONED)) == [
        [[week[0], week[-1], 7 * PAGES_PER_DAY]],
        [[week[0], week[-1], 7]],
    ]


def test_the_generated_projects_make_test_passes_on_the_cluster(spark_project, cluster):
    """The tests of the project's SQLMesh project, as its README says (`make test TESTS=...`), with
    SPARK_MASTER at the cluster. Its other tests run on DuckDB files of their own whatever the
    warehouse, and are the same files in every bake: the demo bake runs them (test_generated_project)."""
    env = {
        **os.environ,
        "PATH": f"{TEMPLATE_BIN}{os.pathsep}{os.environ['PATH']}",
        "SPARK_MASTER": cluster.master_url,
        **cluster.jvm_env,
    }
    run_own_project_tests(spark_project.root, env, bake="spark sample")
