"""The generated project's own commands work as its README writes them."""

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from helpers.dagster_dev import free_port, graphql, serving
from helpers.project import GENERATED_TESTS, TEMPLATE_BIN, passed_tests, run, run_own_project_tests
from helpers.sample_expectations import ALL_MODELS_DEMO, PARTITIONED_MODELS, PYTHON_ASSETS

pytestmark = pytest.mark.e2e


def readme_commands(project_root: Path) -> list[str]:
    """The commands of the first shell block in the README, comments stripped."""
    readme = (project_root / "README.md").read_text()
    block = re.search(r"```bash\n(.*?)```", readme, re.DOTALL).group(1)
    return [line.split("#")[0].strip() for line in block.splitlines() if line.split("#")[0].strip()]


def test_readme_starts_with_dev_and_test(demo_project):
    assert readme_commands(demo_project.root) == ["make dev", "make test"]


def test_make_test_passes(demo_project):
    """The project's own suite passes whole: the integration's tests and the sample's."""
    env = {**os.environ, "PATH": f"{TEMPLATE_BIN}{os.pathsep}{os.environ['PATH']}"}
    result = run(["make", "test"], cwd=demo_project.root, env=env)
    passed_tests(result.stdout, expected=GENERATED_TESTS["demo"])


def test_make_test_of_the_sample_passes_on_the_starter(starter_project):
    """The tests of the SQLMesh project pass on the starter sample too (tests/test_pipeline.py has a
    branch for each sample); the integration's own tests do not depend on the sample and ran above."""
    env = {**os.environ, "PATH": f"{TEMPLATE_BIN}{os.pathsep}{os.environ['PATH']}"}
    run_own_project_tests(starter_project.root, env, bake="starter sample")


def test_definitions_validate_with_the_dagster_cli(demo_project):
    env = {**os.environ, "DAGSTER_HOME": str(demo_project.root / "dagster_home")}
    result = run(
        [str(demo_project.root / ".venv" / "bin" / "dagster"), "definitions", "validate"],
        cwd=demo_project.root,
        env=env,
    )
    assert "Validation successful" in result.stdout + result.stderr


OVERDUE = ["marts", "customers"]
"""A daily model whose last materialization the test dates three days back."""
NEVER_MATERIALIZED = ["marts", "revenue_vs_target"]
RECORD_OLD_MATERIALIZATION = f"""
import time
from dagster import AssetKey, AssetMaterialization, DagsterInstance
from dagster._core.events import DagsterEvent, DagsterEventType, StepMaterializationData
from dagster._core.instance.utils import RUNLESS_JOB_NAME, RUNLESS_RUN_ID

with DagsterInstance.get() as instance:
    materialization = StepMaterializationData(AssetMaterialization(AssetKey({OVERDUE!r})))
    event = DagsterEvent(
        event_type_value=DagsterEventType.ASSET_MATERIALIZATION.value,
        event_specific_data=materialization,
        job_name=RUNLESS_JOB_NAME,
    )
    instance.report_dagster_event(event, run_id=RUNLESS_RUN_ID, timestamp=time.time() - 3 * 86400)
"""
FRESHNESS = """
query Freshness($keys: [AssetKeyInput!]) {
  assetNodes(assetKeys: $keys) {
    assetKey { path }
    freshnessStatusInfo { freshnessStatus }
    internalFreshnessPolicy { ... on CronFreshnessPolicy { deadlineCron timezone } }
  }
}
"""


def freshness(port: int) -> dict[str, tuple[str | None, dict]]:
    """Each queried asset's freshness status and policy, as the UI's asset page reads them."""
    keys = [{"path": OVERDUE}, {"path": NEVER_MATERIALIZED}]
    nodes = graphql(port, FRESHNESS, {"keys": keys})["assetNodes"]
    return {
        "/".join(node["assetKey"]["path"]): (
            (node["freshnessStatusInfo"] or {}).get("freshnessStatus"),
            node["internalFreshnessPolicy"],
        )
        for node in nodes
    }


def test_make_dev_serves_one_asset_per_model_overdue_past_its_cron_and_stops_cleanly(demo_project, tmp_path):
    """The UI's assets, one per model; a daily model last materialized three days ago is overdue.

    Every model has the freshness policy of its cron; Dagster's freshness daemon (run by
    dg dev, every 2 s here) finds the one whose last run is older than a day DEGRADED.
    """
    port = free_port()
    env = {
        **os.environ,
        "PATH": f"{TEMPLATE_BIN}{os.pathsep}{os.environ['PATH']}",
        "DAGSTER_HOME": str(tmp_path),
        "FRESHNESS_DAEMON_INTERVAL_SECONDS": "2",
    }
    (tmp_path / "dagster.yaml").write_text((demo_project.root / "dagster_home" / "dagster.yaml").read_text())
    run([str(demo_project.python), "-c", RECORD_OLD_MATERIALIZATION], cwd=demo_project.root, env=env)
    with serving(["make", "dev", f"PORT={port}"], demo_project.root, env, port, timeout=120) as log:
        data = graphql(port, "{ assetNodes { assetKey { path } } }")
        keys = {"/".join(node["assetKey"]["path"]) for node in data["assetNodes"]}
        assert keys == PYTHON_ASSETS | {
            model.replace(".", "/") for model in ALL_MODELS_DEMO | PARTITIONED_MODELS
        }
        locations = graphql(port, "{ workspaceOrError { ... on Workspace { locationEntries { name } } } }")
        assert locations["workspaceOrError"]["locationEntries"] == [{"name": "shop_analytics"}]
        deadline = time.monotonic() + 60
        while (status := freshness(port))["marts/customers"][0] != "DEGRADED" and time.monotonic() < deadline:
            time.sleep(1)
        daily = {"deadlineCron": "@daily", "timezone": "UTC"}
        assert status == {
            "marts/customers": ("DEGRADED", daily),
            "marts/revenue_vs_target": ("UNKNOWN", daily),
        }
    output = Path(log).read_text()
    assert "dg dev" in output and "superseded" not in output and "deprecated" not in output.lower(), output


def test_dg_checks_and_lists_the_definitions(demo_project):
    env = {**os.environ, "DAGSTER_HOME": str(demo_project.root / "dagster_home")}
    dg = str(demo_project.root / ".venv" / "bin" / "dg")
    checked = run([dg, "check", "defs"], cwd=demo_project.root, env=env)
    assert "All definitions loaded successfully" in checked.stdout + checked.stderr
    listed = run([dg, "list", "defs", "--json"], cwd=demo_project.root, env=env).stdout
    sections = json.loads(listed[listed.index("{") :])
    assets = {asset["asset_key"] for asset in sections["assets"]}
    assert assets == PYTHON_ASSETS | {
        model.replace(".", "/") for model in ALL_MODELS_DEMO | PARTITIONED_MODELS
    }
    assert {"sqlmesh_run_schedule", "sqlmesh_run_by_day_schedule"} <= {
        s["name"] for s in sections["schedules"]
    }
    assert {"sqlmesh_plan_report", "sqlmesh_promote"} <= {j["name"] for j in sections["jobs"]}


def test_dg_check_defs_names_the_line_of_a_mistyped_setting(demo_project):
    """The SQLMesh component's defs.yaml is checked against the component's settings."""
    defs_yaml = demo_project.root / "src" / demo_project.package / "defs" / "sqlmesh" / "defs.yaml"
    shipped = defs_yaml.read_text()
    assert "{{ env('SQLMESH_ENVIRONMENT', 'prod') }}" in shipped  # dg's own template syntax survived the bake
    env = {**os.environ, "DAGSTER_HOME": str(demo_project.root / "dagster_home")}
    dg = str(demo_project.root / ".venv" / "bin" / "dg")
    try:
        defs_yaml.write_text(shipped.replace("  name: sqlmesh\n", "  name: sqlmesh\n  gatway: local\n"))
        checked = subprocess.run(
            [dg, "check", "defs"],
            check=False,
            cwd=demo_project.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        defs_yaml.write_text(shipped)
    output = checked.stdout + checked.stderr
    assert checked.returncode != 0, output
    line = shipped.splitlines().index("  name: sqlmesh") + 2
    assert f"defs/sqlmesh/defs.yaml:{line}" in output and "'gatway' was unexpected" in output, output


def test_dg_scaffolds_a_second_sqlmesh_project_that_dg_checks(demo_project):
    """``dg scaffold defs ... finance --init true``: a new SQLMesh project in a folder of its own.

    ``dg list components`` lists the component with its documentation; without
    ``--project-dir``, the project is created in ``finance_sqlmesh_project/``
    beside the sample's, and the scaffolded folder loads (``dg check defs``)
    with its own resources, jobs and assets. A second ``--init`` into that
    folder is refused in one ``Error:`` line, leaving no defs folder behind.
    All is removed afterwards: other tests read this bake.
    """
    env = {**os.environ, "DAGSTER_HOME": str(demo_project.root / "dagster_home")}
    dg = str(demo_project.root / ".venv" / "bin" / "dg")
    component = f"{demo_project.package}.sqlmesh_integration.SQLMeshProjectComponent"
    defs = demo_project.root / "src" / demo_project.package / "defs"
    sqlmesh_folder = demo_project.root / "finance_sqlmesh_project"
    listed = run([dg, "list", "components", "--json"], cwd=demo_project.root, env=env).stdout
    components = {entry["key"]: entry for entry in json.loads(listed[listed.index("{") :])["items"]}
    assert components[component]["summary"].startswith("A SQLMesh project"), components[component]
    try:
        run([dg, "scaffold", "defs", component, "finance", "--init", "true"], cwd=demo_project.root, env=env)
        assert (sqlmesh_folder / "config.yaml").is_file()
        scaffolded = (defs / "finance" / "defs.yaml").read_text()
        assert "name: finance\n" in scaffolded and "project_dir: finance_sqlmesh_project\n" in scaffolded
        checked = run([dg, "check", "defs"], cwd=demo_project.root, env=env)
        assert "All definitions loaded successfully" in checked.stdout + checked.stderr
        listed = run([dg, "list", "defs", "--json"], cwd=demo_project.root, env=env).stdout
        again = [dg, "scaffold", "defs", component, "again", "--project-dir", sqlmesh_folder.name]
        refused = subprocess.run(
            [*again, "--init", "true"],
            check=False,
            cwd=demo_project.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        shutil.rmtree(defs / "finance", ignore_errors=True)
        shutil.rmtree(defs / "again", ignore_errors=True)
        shutil.rmtree(sqlmesh_folder, ignore_errors=True)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr, refused.stderr
    error = refused.stderr.strip().splitlines()[-1]
    assert error.startswith("Error: finance_sqlmesh_project is a SQLMesh project already"), refused.stderr
    assert "leave out --init" in error, refused.stderr
    assert not (defs / "again").exists()
    sections = json.loads(listed[listed.index("{") :])
    assert {"sqlmesh_example/full_model", "marts/customers"} <= {a["asset_key"] for a in sections["assets"]}
    assert {"finance_run", "finance_promote", "sqlmesh_run"} <= {j["name"] for j in sections["jobs"]}
