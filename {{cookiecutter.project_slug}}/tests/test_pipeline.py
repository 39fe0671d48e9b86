"""Real runs{% if not cookiecutter.sqlmesh_project_path %} of the sample{% endif %}: Dagster, SQLMesh and the warehouse, on scratch storage.

{% if cookiecutter.sqlmesh_project_path -%}
Every asset built from nothing (``make run``; with partitions, ``make run PARTITION=first...last``),
and when something fails, whose failure it is: the project's own, or the integration's.
{%- else -%}
One run of every asset without partitions (what ``make run`` does), and one of
a range of days of the partitioned ones (``make run PARTITION=first...last``).
{%- endif %}"""

{% if cookiecutter.sqlmesh_project_path -%}
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from dagster import AssetCheckKey, AssetKey, DagsterInstance, PartitionsDefinition

from {{ cookiecutter.package_name }}.definitions import defs, sqlmesh
from {{ cookiecutter.package_name }}.sqlmesh_integration.vocabulary.constants import (
    AUDIT_METADATA,
    MODEL_OP_TAG,
    STANDALONE_AUDIT_OP_TAG,
)
{%- else -%}
{% if cookiecutter.warehouse != "spark" -%}
from contextlib import closing

{% endif -%}
{% if cookiecutter.warehouse == "postgres" -%}
import pytest
{% endif -%}
from dagster import AssetKey, DagsterInstance

from {{ cookiecutter.package_name }}.definitions import defs, sqlmesh
{%- if cookiecutter.warehouse == "spark" %}
from {{ cookiecutter.package_name }}.sqlmesh_integration.project.resource import gateway_connection
{%- endif %}
{%- endif %}
{%- if not cookiecutter.sqlmesh_project_path %}

PAGE_VIEWS = AssetKey(["web", "page_views"])
DAILY_TRAFFIC = AssetKey(["web", "daily_traffic"])
CUSTOMERS = AssetKey(["marts", "customers"])
PAGES = 5  # rows of web.page_views per day
# SQLMesh's column lineage of marts.customers: number_of_orders (COUNT(*)) comes from no column.
CUSTOMERS_LINEAGE = {
    "customer_id": [("staging/stg_customers", "customer_id")],
    "full_name": [("staging/stg_customers", "full_name")],
    "email": [("staging/stg_customers", "email")],
    "signup_date": [("staging/stg_customers", "signup_date")],
    "first_order_date": [("staging/stg_orders", "order_date")],
    "most_recent_order_date": [("staging/stg_orders", "order_date")],
    "lifetime_value": [("staging/stg_payments", "amount")],
}
{%- if cookiecutter.sample_pipeline == "demo" %}

# The failure_demo group fails on purpose (docs/tutorial.md walks through it).
FAILS_AT_EXECUTION = AssetKey(["failure_demo", "orders_with_bad_cast"])
FAILS_BLOCKING_AUDIT = AssetKey(["failure_demo", "orders_failing_blocking_audit"])
WARNS = AssetKey(["failure_demo", "orders_failing_warning_audit"])
NOT_RUN = {
    AssetKey(["failure_demo", "bad_cast_summary"]),
    AssetKey(["failure_demo", "bad_cast_report"]),
    AssetKey(["failure_demo", "after_blocking_audit"]),
}
{%- endif %}
{%- endif %}


def sqlmesh_executions(instance: DagsterInstance, run_id: str) -> int:
    return sum(
        record.user_message.startswith("SQLMesh execution for run") for record in instance.all_logs(run_id)
    )
{%- if cookiecutter.sqlmesh_project_path %}


@dataclass(frozen=True)
class Outcome:
    """What became of a model, a source or a standalone audit in a run: its status and failed audits."""

    status: str
    """One of "ok", "failed" and "skipped" (not evaluated: something it reads failed)."""
    failed_audits: frozenset[str] = frozenset()
    error: str = ""
    """The error it failed with, as the run reported it."""

    def agrees_with(self, other: "Outcome") -> bool:
        return (self.status, self.failed_audits) == (other.status, other.failed_audits)

    def describe(self) -> str:
        audits = f", audits failing: {', '.join(sorted(self.failed_audits))}" if self.failed_audits else ""
        return f"{self.status}{audits}"


def step_owners(job) -> dict[str, str]:
    """Each step of the asset job, by the SQLMesh model, source or standalone audit it runs (op tags)."""
    owners = {}
    for node_def in job.graph.node_defs:
        owner = node_def.tags.get(STANDALONE_AUDIT_OP_TAG) or node_def.tags.get(MODEL_OP_TAG)
        if owner:
            owners[node_def.name] = owner
    return owners


def asset_models() -> dict[AssetKey, str]:
    """The SQLMesh model of each asset, as its op's tag says (no SQLMesh project is loaded here: the
    runs fork SQLMesh's execution, which must not inherit a connection of this process)."""
    graph = defs.resolve_asset_graph()
    executable = [assets for assets in graph.assets_defs if assets.is_executable]
    return {key: assets.node_def.tags[MODEL_OP_TAG] for assets in executable for key in assets.keys}


def dagster_outcomes(result, owners: dict[str, str], models: dict[AssetKey, str]) -> dict[str, Outcome]:
    """What the Dagster run did with each model it selected (``models``: asset key -> SQLMesh name), and
    with each source and standalone audit whose checks ran (``owners``: step -> SQLMesh name)."""
    graph = defs.resolve_asset_graph()
    failures = result.get_step_failure_events()
    errors = {owners[event.step_key]: event.event_specific_data.error.message for event in failures}
    materialized = {event.asset_key for event in result.get_asset_materialization_events()}
    failed_audits: dict[str, set[str]] = {}
    evaluations = [event for event in result.all_events if event.event_type_value == "ASSET_CHECK_EVALUATION"]
    for event in evaluations:
        check = event.asset_check_evaluation_data
        if not check.passed:
            spec = graph.get_check_spec(AssetCheckKey(check.asset_key, check.check_name))
            failed_audits.setdefault(owners[event.step_key], set()).add(str(spec.metadata[AUDIT_METADATA]))
    statuses = {
        name: "failed" if name in errors else "ok" if key in materialized else "skipped"
        for key, name in models.items()
    }
    checked = {owners[event.step_key] for event in result.all_events if event.step_key in owners}
    statuses |= {name: "failed" if name in errors else "ok" for name in checked - set(statuses)}
    return {
        name: Outcome(status, frozenset(failed_audits.get(name, ())), errors.get(name, ""))
        for name, status in statuses.items()
    }


def run_sqlmesh_alone(arguments: list[str], project: Path, env: dict[str, str]) -> dict | list:
    """tests/sqlmesh_alone.py with ``arguments``, inside the project folder ``project``: what it printed."""
    command = [sys.executable, str(Path(__file__).with_name("sqlmesh_alone.py")), ".", *arguments]
    done = subprocess.run(command, cwd=project, env={**os.environ, **env}, capture_output=True, text=True)
    assert done.returncode == 0, f"SQLMesh alone could not {arguments[0]} the project:\n{done.stderr[-5000:]}"
    return json.loads(done.stdout)


def sqlmesh_alone(root: Path, environment: str, env: dict[str, str]) -> dict:
    """SQLMesh alone planning a second copy of the project, in ``root``, with ``env``: its outcomes."""
    copy = root / "sqlmesh_project"
    shutil.copytree(
        os.environ["SQLMESH_PROJECT_DIR"],
        copy,
        ignore=shutil.ignore_patterns(".cache", "logs", "*.db", "*.duckdb", "*.wal"),
    )
    return run_sqlmesh_alone(["plan", environment], copy, env)


def alone_outcomes(alone: dict, names: set[str]) -> dict[str, Outcome]:
    """SQLMesh's outcome of each of ``names``, from what sqlmesh_alone.py printed."""
    outcomes = {}
    for name in names:
        status = "failed" if name in alone["failed"] else "skipped" if name in alone["skipped"] else "ok"
        audits = frozenset(alone["failed_audits"].get(name, ()))
        outcomes[name] = Outcome(status, audits, alone["failed"].get(name, ""))
    return outcomes


def display_name(name: str) -> str:
    """The name a team writes: the model's as in its MODEL block, or the standalone audit's."""
    model = sqlmesh.load_context().models.get(name)
    if model is None:
        return f"standalone audit {name}"
    return f"{model.name} (a source)" if model.kind.is_external else model.name


def reproduce(name: str, environment: str) -> str:
    """The command that plans the model (with what it reads) with SQLMesh alone, in the project's folder."""
    plan = "plan" if environment == "prod" else f"plan {environment}"
    model = sqlmesh.load_context().models.get(name)
    selected = f" --select-model +{model.name}" if model is not None and not model.kind.is_external else ""
    return f'make sqlmesh ARGS="{plan} --auto-apply --no-prompts{selected}"'


def first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def projects_own_failure(outcomes: dict[str, Outcome], alone: dict, environment: str) -> str:
    """The message when SQLMesh alone (``alone``, as printed) fails and skips exactly what the Dagster run
    did (``outcomes``: SQLMesh's, of each model the run selected)."""
    failed = {name: outcome.error for name, outcome in outcomes.items() if outcome.status == "failed"}
    unreported = set(alone["failed"]) - set(outcomes)  # e.g. a source's blocking audit: no step of the run
    failed |= {name: alone["failed"][name] for name in unreported}
    lines = [
        "The project fails in SQLMesh itself, the same way without Dagster: the failure is the project's "
        "own, not the integration's. SQLMesh alone (sqlmesh plan, on a second copy of the project) did this:"
    ]
    for name in sorted(failed):
        lines.append(f"  {display_name(name)} failed: {first_line(failed[name])}")
        lines.append(f"    reproduce it: {reproduce(name, environment)}")
    for name in sorted(name for name, outcome in outcomes.items() if outcome.status == "skipped"):
        lines.append(f"  {display_name(name)} skipped: something it reads failed")
    for name in sorted(name for name, outcome in outcomes.items() if outcome.status == "ok"):
        if outcomes[name].failed_audits:
            audits = ", ".join(sorted(outcomes[name].failed_audits))
            lines.append(f"  {display_name(name)} warned: non-blocking audits failed: {audits}")
    lines.append("A plan that fails promotes nothing: the command leaves what the environment shows as is.")
    return "\n".join(lines)


def integration_disagrees(dagster: dict[str, Outcome], alone: dict[str, Outcome]) -> str:
    """The message when the Dagster run and SQLMesh alone did not do the same, model by model."""
    lines = [
        "The integration disagrees with SQLMesh: run alone on a second copy of the project, SQLMesh did "
        "otherwise with these (the Dagster run first):"
    ]
    for name in sorted(dagster):
        if not dagster[name].agrees_with(alone[name]):
            ours, theirs = dagster[name].describe(), alone[name].describe()
            lines.append(f"  {display_name(name)}: Dagster {ours}; SQLMesh {theirs}")
            if dagster[name].error:
                lines.append(f"    Dagster's error: {first_line(dagster[name].error)}")
            if alone[name].error:
                lines.append(f"    SQLMesh's error: {first_line(alone[name].error)}")
    return "\n".join(lines)


def waves() -> list[tuple[PartitionsDefinition | None, list[AssetKey]]]:
    """Every asset, in the runs that build the project from nothing: each run of one kind of asset
    (unpartitioned, or of one partitions definition, as a run names one range of partitions), after the
    runs of what it reads. A project without partitions is one run."""
    graph = defs.resolve_asset_graph()
    wave: dict[AssetKey, int] = {}
    for key in graph.toposorted_asset_keys:
        node = graph.get(key)
        if node.is_materializable:
            kind = node.partitions_def
            above = [wave[p] + (graph.get(p).partitions_def != kind) for p in node.parent_keys if p in wave]
            wave[key] = max(above, default=0)
    runs: list[tuple[int, PartitionsDefinition | None, list[AssetKey]]] = []
    for key, number in wave.items():
        kind = graph.get(key).partitions_def
        same = [run for run in runs if run[0] == number and run[1] == kind]
        if same:
            same[0][2].append(key)
        else:
            runs.append((number, kind, [key]))
    return [(kind, keys) for _, kind, keys in sorted(runs, key=lambda run: run[0])]


def whole_range(partitions: PartitionsDefinition | None) -> dict[str, str]:
    """The run tags of every partition there is so far (none for unpartitioned assets)."""
    if partitions is None:
        return {}
    return {
        "dagster/asset_partition_range_start": partitions.get_first_partition_key(),
        "dagster/asset_partition_range_end": partitions.get_last_partition_key(),
    }


def merged(outcomes: list[dict[str, Outcome]]) -> dict[str, Outcome]:
    """The outcomes of several runs as one: a standalone audit on assets of two runs ran in both."""
    worst = {"ok": 0, "skipped": 1, "failed": 2}
    result: dict[str, Outcome] = {}
    for run in outcomes:
        for name, outcome in run.items():
            before = result.get(name, Outcome("ok"))
            result[name] = Outcome(
                max(before.status, outcome.status, key=worst.__getitem__),
                before.failed_audits | outcome.failed_audits,
                before.error or outcome.error,
            )
    return result


{% if cookiecutter.warehouse == "postgres" -%}
@pytest.mark.usefixtures("fresh_warehouse")
{% endif -%}
def test_every_asset_builds_as_sqlmesh_builds_it(tmp_path, request):
    """Your SQLMesh project, built from nothing through Dagster on a copy of it (see conftest.py).

    Every asset in one run of one SQLMesh execution (``make run``). With
    partitioned models, one run per partitions definition over all its
    partitions (``make run PARTITION=first...last``), each after the runs of
    the assets it reads.

    External sources: a table external_models.yaml declares that the scratch
    warehouse does not have (your sources are loaded by other tools) is created
    empty, with the columns the file declares, so the models reading it run over
    no rows instead of failing on a missing table. A source declared without
    columns stays missing, and the models reading it fail as they would in SQLMesh.

    When a model fails or is skipped, or an audit fails, SQLMesh plans the
    project alone on a second copy (tests/sqlmesh_alone.py). If it fails and
    skips the same models, with the same audits failing, the test fails saying
    the failure is the project's own, with SQLMesh's error and the command that
    reproduces it; audits that only warn in both pass. Otherwise it fails
    saying, model by model, where the integration and SQLMesh disagree.
    """
    # In a process of its own: the run forks SQLMesh's execution, which must not inherit a connection.
    run_sqlmesh_alone(["sources"], Path(os.environ["SQLMESH_PROJECT_DIR"]), {})
    instance = DagsterInstance.ephemeral()
    job = defs.resolve_implicit_global_asset_job_def()
    owners = step_owners(job)
    models = asset_models()
    runs = []
    for partitions, keys in waves():
        result = job.execute_in_process(
            instance=instance, asset_selection=keys, tags=whole_range(partitions), raise_on_error=False
        )
        assert sqlmesh_executions(instance, result.run_id) == 1
        runs.append(dagster_outcomes(result, owners, {key: models[key] for key in keys}))
    dagster = merged(runs)
    if all(outcome.status == "ok" and not outcome.failed_audits for outcome in dagster.values()):
        return
    # Where SQLMesh alone builds (conftest.py): prepared only now, as only a failure needs it.
    printed = sqlmesh_alone(tmp_path, sqlmesh.environment, request.getfixturevalue("sqlmesh_alone_env"))
    alone = alone_outcomes(printed, set(dagster))
    if any(not dagster[name].agrees_with(alone[name]) for name in dagster):
        pytest.fail(integration_disagrees(dagster, alone), pytrace=False)
    if any(outcome.status != "ok" for outcome in dagster.values()):
        pytest.fail(projects_own_failure(alone, printed, sqlmesh.environment), pytrace=False)
{%- else %}


def unpartitioned_assets() -> list[AssetKey]:
    graph = defs.resolve_asset_graph()
    return [key for key in graph.materializable_asset_keys if graph.get(key).partitions_def is None]


def check_results(result) -> dict:
    """(asset key, check name) -> passed, for every check that reported in the run."""
    evaluations = [
        event.asset_check_evaluation_data
        for event in result.all_events
        if event.event_type_value == "ASSET_CHECK_EVALUATION"
    ]
    return {(check.asset_key, check.check_name): check.passed for check in evaluations}


{% if cookiecutter.warehouse == "postgres" -%}
@pytest.mark.usefixtures("fresh_warehouse")
{% endif -%}
def test_every_unpartitioned_asset_in_one_run():
    instance = DagsterInstance.ephemeral()
    all_assets = set(unpartitioned_assets())
    job = defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(instance=instance, asset_selection=list(all_assets), raise_on_error=False)

    materialized = {event.asset_key for event in result.get_asset_materialization_events()}
    failed_steps = {event.step_key for event in result.get_step_failure_events()}
    checks = check_results(result)
    assert sqlmesh_executions(instance, result.run_id) == 1
    assert PAGE_VIEWS not in all_assets
    (customers,) = [e for e in result.get_asset_materialization_events() if e.asset_key == CUSTOMERS]
    lineage = customers.materialization.metadata["dagster/column_lineage"].value
    assert {
        column: [(dep.asset_key.to_user_string(), dep.column_name) for dep in deps]
        for column, deps in lineage.deps_by_column.items()
    } == CUSTOMERS_LINEAGE
    # SQLMesh's environment now holds the project's own version of each model the run
    # planned (external parents included), so the next run has nothing to plan.
    context = sqlmesh.load_context()
    try:
        deployed = context.state_reader.get_environment(sqlmesh.environment).snapshots
        assert {s.name for s in deployed if s.snapshot_id != context.snapshots[s.name].snapshot_id} == set()
    finally:
        context.close()  # DuckDB: one process holds the file at a time
{%- if cookiecutter.sample_pipeline == "demo" %}
    assert not result.success
    assert failed_steps == {
        FAILS_AT_EXECUTION.to_python_identifier(),
        FAILS_BLOCKING_AUDIT.to_python_identifier(),
    }
    # A blocking audit fails after SQLMesh has written the rows: materialized, then failed.
    assert materialized == all_assets - NOT_RUN - {FAILS_AT_EXECUTION}
    assert False in [passed for (key, _), passed in checks.items() if key == FAILS_BLOCKING_AUDIT]
    assert False in [passed for (key, _), passed in checks.items() if key == WARNS]
    healthy = {key for key in all_assets if key.path[0] != "failure_demo"}
    assert all(passed for (key, _), passed in checks.items() if key in healthy)
{%- else %}
    assert result.success
    assert not failed_steps
    assert materialized == all_assets
    assert checks and all(checks.values())
{%- endif %}


{% if cookiecutter.warehouse == "postgres" -%}
@pytest.mark.usefixtures("fresh_warehouse")
{% endif -%}
def test_a_range_of_days_is_one_run_that_fills_exactly_those_days():
    instance = DagsterInstance.ephemeral()
    job = defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(
        instance=instance,
        asset_selection=[PAGE_VIEWS, DAILY_TRAFFIC],
        tags={
            "dagster/asset_partition_range_start": "2024-03-01",
            "dagster/asset_partition_range_end": "2024-03-03",
        },
    )

    assert sqlmesh_executions(instance, result.run_id) == 1
    days = ["2024-03-01", "2024-03-02", "2024-03-03"]
    for key in (PAGE_VIEWS, DAILY_TRAFFIC):
        partitions = [
            event.partition for event in result.get_asset_materialization_events() if event.asset_key == key
        ]
        assert sorted(partitions) == days
    assert all(check_results(result).values())
{%- if cookiecutter.warehouse == "spark" %}
    # Read through SQLMesh's own adapter for the gateway (Spark's session), as the models read.
    adapter = gateway_connection(defs.resources["warehouse"].project_dir).create_engine_adapter()
    stored = adapter.fetchall(
        "SELECT CAST(view_date AS STRING), COUNT(*) FROM web.page_views GROUP BY 1 ORDER BY 1"
    )
    assert [tuple(row) for row in stored] == [(day, PAGES) for day in days]
{%- else %}
    with closing(defs.resources["warehouse"].connect()) as connection:
        cursor = connection.cursor()
        cursor.execute("SELECT CAST(view_date AS TEXT), COUNT(*) FROM web.page_views GROUP BY 1 ORDER BY 1")
        assert cursor.fetchall() == [(day, PAGES) for day in days]
{%- endif %}
{%- endif %}
