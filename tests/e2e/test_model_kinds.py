"""Every SQLMesh model kind and project feature: through Dagster, each model ends as in bare SQLMesh.

The project under ``sqlmesh_projects/every_kind`` holds every model kind
SQLMesh offers on DuckDB and the project features teams use (see its
README for what fails on purpose). Bare SQLMesh (`sqlmesh plan`, through its
Python API, with nothing of the integration) and a real Dagster run of the
generated project each build it into their own warehouse; the test compares
them model by model: evaluated (and in how many batches), failed, skipped,
every failing audit with its row count, and the rows in every model's table.
"""

import json
import shutil
from pathlib import Path

import pytest
from helpers.project import IN_PROJECT, InstalledProject, run

pytestmark = pytest.mark.e2e

PROJECT = Path(__file__).parent / "sqlmesh_projects" / "every_kind"
# What makes the project fail on purpose: a copy without these files builds cleanly.
FAILING_ON_PURPOSE = [
    "models/marts/broken.sql",
    "models/marts/after_broken.sql",
    "models/marts/withheld.sql",
    "models/marts/after_withheld.sql",
    "models/staging/events.sql",
    "external_models.yaml",
]
KINDS = {
    "FULL",
    "VIEW",
    "SEED",
    "EMBEDDED",
    "EXTERNAL",
    "INCREMENTAL_BY_TIME_RANGE",
    "INCREMENTAL_BY_UNIQUE_KEY",
    "INCREMENTAL_BY_PARTITION",
    "INCREMENTAL_UNMANAGED",
    "SCD_TYPE_2_BY_TIME",
    "SCD_TYPE_2_BY_COLUMN",
}


def copy_project(root: Path, healthy: bool = False) -> Path:
    target = root / "every_kind"
    shutil.copytree(PROJECT, target)
    if healthy:
        for path in FAILING_ON_PURPOSE:
            (target / path).unlink()
    return target


def bare_sqlmesh(project: InstalledProject, sqlmesh_project: Path, warehouse: Path, command: str) -> dict:
    script = IN_PROJECT / "bare_sqlmesh.py"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(warehouse.parent), "WAREHOUSE_PATH": str(warehouse)}
    result = run([str(project.python), str(script), str(sqlmesh_project), command], project.root, env)
    return json.loads(result.stdout)


def plain(fqn: str) -> str:
    return fqn.replace('"', "")


def asset_key(fqn: str) -> str:
    """The documented key scheme: schema/name, with the catalog only when it is not the default one."""
    parts = plain(fqn).split(".")
    return "/".join(parts[1:] if parts[0] == "warehouse" else parts)


def step(fqn: str, kinds: dict[str, str]) -> str:
    """The step that reports a model (a source's audits have their own check step)."""
    name = asset_key(fqn).replace("/", "__")
    return f"{name}__sqlmesh_audits" if kinds[fqn] == "EXTERNAL" else name


@pytest.fixture(scope="module")
def bare(starter_project, tmp_path_factory) -> dict:
    """Bare SQLMesh on the project, and on its copy that fails nowhere."""
    root = tmp_path_factory.mktemp("bare")
    full_project = copy_project(root / "full")
    full = bare_sqlmesh(starter_project, full_project, root / "full" / "warehouse.duckdb", "plan")
    full["counts"] = bare_sqlmesh(starter_project, full_project, root / "full" / "warehouse.duckdb", "counts")
    healthy_project = copy_project(root / "healthy", healthy=True)
    healthy = bare_sqlmesh(starter_project, healthy_project, root / "healthy" / "warehouse.duckdb", "plan")
    healthy["counts"] = bare_sqlmesh(
        starter_project, healthy_project, root / "healthy" / "warehouse.duckdb", "counts"
    )
    return {"full": full, "healthy": healthy}


def test_the_project_holds_every_kind_and_fails_where_it_says(bare):
    full = bare["full"]
    assert set(full["kinds"].values()) >= KINDS
    assert full["standalone_audits"], "a standalone audit"
    assert any(not fqn.startswith('"warehouse"') for fqn in full["kinds"]), "a second catalog"
    assert not full["applied"] and bare["healthy"]["applied"]
    assert not bare["healthy"]["failed"] and not bare["healthy"]["skipped"]


def test_every_model_ends_as_in_bare_sqlmesh(starter_project, bare, tmp_path):
    """Under the default executor: what each model does is SQLMesh's; how steps share one execution
    under the multiprocess executor is test_shared_execution's and test_selection's concern."""
    full, healthy = bare["full"], bare["healthy"]
    kinds = full["kinds"]
    failed, skipped = set(full["failed"]), set(full["skipped"])
    scratch = starter_project.scratch(tmp_path)
    scratch.sqlmesh_project = copy_project(tmp_path)

    # The SQLMesh assets only: the sample's Python asset writes a table this project does not read.
    scratch.extra_env = {"PYTHONPATH": str(IN_PROJECT)}
    result = scratch.materialize(module="sqlmesh_assets_only")

    assert result["executions"] == 1
    assert result["status"] == "FAILURE"  # as `sqlmesh plan` fails

    # Evaluated, batch for batch. A failing `sqlmesh plan` in prod stops before the models SQLMesh
    # backfills after promotion (kinds it never restates); the integration plans, then runs, so it
    # builds them too: their reference is bare SQLMesh on the copy that fails nowhere.
    models = {fqn for fqn in kinds if "." in plain(fqn)}
    after_promotion = {fqn for fqn in healthy["evaluated"] if fqn in models} - set(full["evaluated"])
    after_promotion -= failed | skipped
    expected_evaluated = {plain(fqn): n for fqn, n in full["evaluated"].items() if fqn in models}
    expected_evaluated |= {plain(fqn): healthy["evaluated"][fqn] for fqn in after_promotion}
    assert result["evaluated"] == expected_evaluated
    assert len(expected_evaluated) >= 15

    # Failed and skipped: the same models; Dagster does not execute what SQLMesh skipped.
    failed_steps = {name for name, status in result["steps"].items() if status == "STEP_FAILURE"}
    assert failed_steps == {step(fqn, kinds) for fqn in failed}
    assert not {step(fqn, kinds) for fqn in skipped} & set(result["steps"])

    # Every failing audit, with its failing rows; a standalone audit on each table it reads.
    expected_failures = {}
    for owner, audits in full["audit_failures"].items():
        targets = full["standalone_audits"].get(owner) or [owner]
        for target in targets:
            for audit, rows in audits.items():
                expected_failures[f"{asset_key(target)}:{audit}"] = rows
    reported_failures = {
        check: outcome["failing_rows"] for check, outcome in result["checks"].items() if not outcome["passed"]
    }
    assert reported_failures == expected_failures
    assert len(expected_failures) >= 5

    # The rows in every model's table. A model that failed or was skipped has none; the
    # integration applies its plan all the same, so its table exists, empty, where bare SQLMesh
    # has none (prod's view of it reads nothing rather than failing).
    counts = bare_sqlmesh(starter_project, scratch.sqlmesh_project, scratch.warehouse, "counts")
    expected_counts = full["counts"] | {fqn: healthy["counts"][fqn] for fqn in after_promotion}
    not_built = {fqn for fqn, rows in expected_counts.items() if rows is None}
    assert not_built and not_built <= failed | skipped
    assert {fqn: rows for fqn, rows in counts.items() if fqn not in not_built} == {
        fqn: rows for fqn, rows in expected_counts.items() if fqn not in not_built
    }
    assert all(counts[fqn] in (None, 0) for fqn in not_built)
    # Materialized: every model that wrote rows (a failed blocking audit still wrote them).
    assert set(result["materialized"]) == {asset_key(fqn) for fqn in set(expected_counts) - not_built}
    # Each reports the rows its table holds; a view stores none, so it reports no count.
    row_counts = {
        fqn: result["materialized"][asset_key(fqn)].get("dagster/row_count")
        for fqn in counts
        if asset_key(fqn) in result["materialized"]
    }
    expected_row_counts = {fqn: None if kinds[fqn] == "VIEW" else counts[fqn] for fqn in row_counts}
    # A model whose blocking audit failed (its step failed after the rows were written) counts them too.
    audit_failed = {fqn for fqn in row_counts if step(fqn, kinds) in failed_steps}
    assert audit_failed == {'"warehouse"."marts"."withheld"'}
    assert row_counts == expected_row_counts
    assert None in row_counts.values() and len(row_counts) >= 15

    # Project features: the second catalog's model is its own asset; after_all ran.
    assert {"archive/staging/orders", "staging/orders"} <= set(result["materialized"])
    assert scratch.query("SELECT ran FROM ops.after_all_ran") == [[1]]

    # A standalone audit executed alone, from one table's Checks tab: audited, nothing evaluated.
    alone = scratch.materialize(checks=["marts/latest_orders:orders_in_latest"])
    assert alone["checks"] == {
        "marts/latest_orders:orders_in_latest": {"passed": False, "severity": "WARN", "failing_rows": 1}
    }
    assert alone["evaluated"] == {} and alone["materialized"] == {}
    assert alone["status"] == "SUCCESS"
