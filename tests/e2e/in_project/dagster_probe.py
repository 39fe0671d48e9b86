"""Run a real Dagster job of a baked project and print what happened, as JSON.

Runs inside the baked project's own virtual environment (the template's test
environment has neither Dagster nor SQLMesh), against the Dagster instance in
DAGSTER_HOME. Usage:

    python dagster_probe.py PACKAGE [--select a/b,c/d] [--checks a/b:check,c/d:check]
                                    [--tag KEY=VALUE ...] [--reexecute-from-failure RUN_ID]
                                    [--job NAME]   (a job of the definitions, not the asset job)

Without ``--select`` (nor ``--job``), the run takes every asset that has no
partitions, as ``make run`` does. ``--checks`` selects asset checks as the UI's "Execute" on a check does: a run
whose asset selection holds only what ``--select`` names (possibly nothing).
    python dagster_probe.py PACKAGE --summarize RUN_ID|latest   (a run made elsewhere)
"""

import argparse
import json
import logging
from collections import Counter

from dagster import (
    AssetCheckKey,
    AssetKey,
    DagsterEventType,
    DagsterInstance,
    ReexecutionOptions,
    execute_job,
)
from dagster._core.definitions.reconstruct import ReconstructableRepository
from dagster._core.execution.api import create_execution_plan, execute_run
from dagster._core.snap import snapshot_from_execution_plan

EXECUTION_MESSAGE = "SQLMesh execution for run"
EVALUATED_PREFIX = "SQLMesh: evaluated "


def summarize(instance: DagsterInstance, run_id: str) -> dict:
    run = instance.get_run_by_id(run_id)
    steps: dict[str, str] = {}
    materialized: dict[str, dict] = {}
    partitions: dict[str, list[str]] = {}
    checks: dict[str, dict] = {}
    outputs: dict[str, dict[str, str]] = {}
    evaluated: Counter[str] = Counter()
    batches: list[str] = []
    warnings: list[str] = []
    errors: list[str] = []
    executions = 0
    lock_errors = 0
    for record in instance.all_logs(run_id):
        message = record.user_message or ""
        lock_errors += "Could not set lock" in message
        event = record.dagster_event
        if event is None:
            executions += message.startswith(EXECUTION_MESSAGE)
            if record.level == logging.WARNING:
                warnings.append(message)
            if record.level == logging.ERROR:
                errors.append(message)
            for line in message.splitlines():  # a step logs the lines it reads at once as one message
                if line.startswith(EVALUATED_PREFIX):
                    evaluated[line[len(EVALUATED_PREFIX) :].split(" [")[0].replace('"', "")] += 1
                    batches.append(line[len(EVALUATED_PREFIX) :].split("] in ")[0].replace('"', "") + "]")
            continue
        kind = event.event_type
        if kind in (
            DagsterEventType.STEP_START,
            DagsterEventType.STEP_SUCCESS,
            DagsterEventType.STEP_FAILURE,
            DagsterEventType.STEP_SKIPPED,
        ):
            steps[event.step_key] = kind.value
            if kind == DagsterEventType.STEP_FAILURE:
                lock_errors += "Could not set lock" in str(event.event_specific_data.error)
        elif kind == DagsterEventType.ASSET_MATERIALIZATION:
            materialization = event.step_materialization_data.materialization
            if materialization.partition is not None:
                partitions.setdefault(materialization.asset_key.to_user_string(), []).append(
                    materialization.partition
                )
            materialized[materialization.asset_key.to_user_string()] = {
                key: value.value
                for key, value in materialization.metadata.items()
                if isinstance(value.value, (str, int, float, bool))
            }
        elif kind == DagsterEventType.STEP_OUTPUT:
            outputs[event.step_key] = {
                key: str(getattr(value, "value", value))
                for key, value in event.event_specific_data.metadata.items()
            }
        elif kind == DagsterEventType.ASSET_CHECK_EVALUATION:
            data = event.asset_check_evaluation_data
            checks[f"{data.asset_key.to_user_string()}:{data.check_name}"] = {
                "passed": data.passed,
                "severity": data.severity.value,
                "failing_rows": data.metadata["failing_rows"].value
                if "failing_rows" in data.metadata
                else None,
            }
    failure_records = instance.all_logs(run_id, of_type=DagsterEventType.STEP_FAILURE)
    failures = {
        record.dagster_event.step_key: str(record.dagster_event.event_specific_data.error.message)
        for record in failure_records
    }
    failure_metadata = {
        record.dagster_event.step_key: {
            key: str(getattr(value, "value", value))
            for key, value in (record.dagster_event.event_specific_data.user_failure_data.metadata).items()
        }
        for record in failure_records
        if record.dagster_event.event_specific_data.user_failure_data is not None
    }
    return {
        "run_id": run_id,
        "status": run.status.value,
        "selected": sorted(key.to_user_string() for key in run.asset_selection or ()),
        "steps": steps,
        "failures": failures,
        "failure_metadata": failure_metadata,
        "materialized": materialized,
        "partitions": {key: sorted(keys) for key, keys in partitions.items()},
        "checks": checks,
        "outputs": outputs,
        "executions": executions,
        "evaluated": dict(evaluated),
        "evaluated_batches": sorted(batches),
        "lock_errors": lock_errors,
        "warnings": warnings,
        "errors": errors,
    }


def unpartitioned(job) -> list[AssetKey] | None:
    """Every asset without partitions, as ``make run`` takes them; None (the whole job) if none has any.

    The whole job also holds the checks of sources (external models' audits),
    which no selection of assets includes.
    """
    graph = job.get_definition().asset_layer.asset_graph
    keys = [key for key in graph.executable_asset_keys if graph.get(key).partitions_def is None]
    return None if len(keys) == len(graph.executable_asset_keys) else keys


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("package")
    parser.add_argument("--select", default="")
    parser.add_argument("--checks", default=None)
    parser.add_argument("--tag", action="append", default=[])
    parser.add_argument("--reexecute-from-failure", default=None)
    parser.add_argument("--summarize", default=None)
    parser.add_argument("--job", default=None)
    parser.add_argument(
        "--module",
        default=None,
        help="MODULE[:NAME], the module holding the Definitions NAME (default: PACKAGE.definitions:defs)",
    )
    args = parser.parse_args()
    tags = dict(tag.split("=", 1) for tag in args.tag)
    with DagsterInstance.get() as instance:
        if args.summarize:
            run_id = args.summarize
            if run_id == "latest":
                run_id = instance.get_runs(limit=1)[0].run_id
            print(json.dumps(summarize(instance, run_id), indent=1, sort_keys=True))
            return
        # The job every step process can load again: the project's implicit asset job.
        module, _, name = (args.module or f"{args.package}.definitions").partition(":")
        repository = ReconstructableRepository.for_module(module, name or "defs")
        job = repository.get_reconstructable_job(args.job or "__ASSET_JOB")
        if args.job:
            result = execute_job(job, instance=instance, tags=tags)
        elif args.reexecute_from_failure:
            options = ReexecutionOptions.from_failure(args.reexecute_from_failure, instance)
            result = execute_job(job, instance=instance, reexecution_options=options, tags=tags)
        elif args.checks is not None:
            assets = {AssetKey.from_user_string(key) for key in args.select.split(",") if key}
            checks = {
                AssetCheckKey(AssetKey.from_user_string(asset), name)
                for asset, name in (check.rsplit(":", 1) for check in args.checks.split(",") if check)
            }
            # What the webserver does for a check launched from the UI.
            subset = job.get_subset(asset_selection=assets, asset_check_selection=checks)
            job_def = subset.get_definition()
            plan = create_execution_plan(subset, instance_ref=instance.get_ref(), tags=tags)
            run = instance.create_run(
                job_name=job_def.name,
                run_id=None,
                run_config=None,
                op_selection=None,
                asset_selection=frozenset(assets),
                asset_check_selection=frozenset(checks),
                resolved_op_selection=None,
                step_keys_to_execute=plan.step_keys_to_execute,
                status=None,
                tags=tags,
                root_run_id=None,
                parent_run_id=None,
                job_snapshot=job_def.get_job_snapshot(),
                execution_plan_snapshot=snapshot_from_execution_plan(plan, job_def.get_job_snapshot_id()),
                parent_job_snapshot=None,
                job_code_origin=subset.get_python_origin(),
                remote_job_origin=None,
                asset_graph=job_def.asset_layer.asset_graph,
            )
            result = execute_run(subset, run, instance)
        else:
            selection = [AssetKey.from_user_string(key) for key in args.select.split(",") if key]
            result = execute_job(
                job, instance=instance, asset_selection=selection or unpartitioned(job), tags=tags
            )
        print(json.dumps(summarize(instance, result.run_id), indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
