"""One SQLMesh execution per Dagster run, shared by every step of the run.

Dagster's default executor runs each asset step in its own process, so
in-memory state cannot be shared between the steps of a run. The results
therefore live in a run-scoped folder of the Dagster instance's storage:

    <storage>/sqlmesh_runs/<run_id>/
        execution.lock   held while one step executes SQLMesh
        started          written before execution begins
        results.json     what SQLMesh did to every model of the run

The first step to take the lock executes SQLMesh for every model of the
run (not only its own) and writes ``results.json``; every other step waits
for the lock and reads it. A ``started`` marker without results means the
executing process died: the run fails rather than executing twice.
"""

import os
import shutil
from pathlib import Path

from dagster import (
    AssetExecutionContext,
    ConfigurableResource,
    DagsterRunStatus,
    Failure,
)
from filelock import FileLock
from pydantic import Field

from .isolation import run_isolated
from .outcomes import ExecutionResults
from .resource import MaterializeMode, SQLMeshResource

MODE_TAG = "sqlmesh/mode"
MODEL_OP_TAG = "sqlmesh/model"
_FINISHED = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}
_results_in_this_process: dict[str, ExecutionResults] = {}


class SQLMeshRunResults(ConfigurableResource):
    """Executes SQLMesh once per Dagster run and hands the results to every step."""

    mode: str = Field(
        default=MaterializeMode.RUN.value,
        description=(
            "What materializing means, unless the run has a 'sqlmesh/mode' tag: 'run' evaluates "
            "missing intervals only (SQLMesh's own run, what a schedule wants); 'restate' "
            "re-evaluates exactly the selected models."
        ),
    )
    keep_finished_runs: int = Field(
        default=20, description="How many finished runs' result folders to keep for inspection."
    )

    def get_or_execute(self, context: AssetExecutionContext, sqlmesh: SQLMeshResource) -> ExecutionResults:
        """The results of this run's SQLMesh execution, executing it if no step has yet."""
        run_id = context.run.run_id
        if run_id in _results_in_this_process:
            return _results_in_this_process[run_id]
        mode = self._mode(context)
        runs_dir = Path(context.instance.storage_directory()) / "sqlmesh_runs"
        run_dir = runs_dir / run_id
        run_dir.mkdir(parents=True, exist_ok=True)
        results_file = run_dir / "results.json"
        with FileLock(run_dir / "execution.lock"):
            if results_file.exists():
                results = ExecutionResults.from_json(results_file.read_text())
            elif (run_dir / "started").exists():
                raise Failure(
                    "The step that was executing SQLMesh for this run stopped before it shared its "
                    "results. Re-execute the run (from failure) to execute SQLMesh again.",
                    allow_retries=False,
                )
            else:
                (run_dir / "started").write_text(str(os.getpid()))
                results = self._execute(context, sqlmesh, mode)
                _write_atomically(results_file, results.to_json())
                self._prune(context, runs_dir, keep=run_id)
        _results_in_this_process[run_id] = results
        return results

    def _mode(self, context: AssetExecutionContext) -> MaterializeMode:
        requested = context.run.tags.get(MODE_TAG, self.mode)
        try:
            return MaterializeMode(requested)
        except ValueError:
            allowed = ", ".join(repr(mode.value) for mode in MaterializeMode)
            raise Failure(
                f"SQLMesh mode {requested!r} (tag '{MODE_TAG}' or resource config 'mode') is not "
                f"allowed: use one of {allowed}.",
                allow_retries=False,
            ) from None

    def _execute(
        self, context: AssetExecutionContext, sqlmesh: SQLMeshResource, mode: MaterializeMode
    ) -> ExecutionResults:
        run_id = context.run.run_id
        models = models_in_run(context)
        context.log.info(
            f"SQLMesh execution for run {run_id}: {len(models)} model(s), mode '{mode.value}', "
            f"executed by step '{context.op_execution_context.op_handle}' and shared with every step "
            "of the run"
        )
        try:
            outcomes, plan_applied = run_isolated(
                lambda send_line: sqlmesh.execute(models, mode, send_line), context.log.info
            )
        except Exception as error:  # reported by every asset of the run, see factory
            context.log.error(f"SQLMesh could not execute: {error}")
            return ExecutionResults(run_id=run_id, mode=mode.value, models={}, error=str(error))
        return ExecutionResults(run_id=run_id, mode=mode.value, models=outcomes, plan_applied=plan_applied)

    def _prune(self, context: AssetExecutionContext, runs_dir: Path, keep: str) -> None:
        """Delete result folders of finished runs beyond the newest ``keep_finished_runs``."""
        folders = sorted(
            (p for p in runs_dir.iterdir() if p.is_dir() and p.name != keep),
            key=lambda p: p.stat().st_mtime,
            reverse=True,
        )
        finished = []
        for folder in folders:
            run = context.instance.get_run_by_id(folder.name)
            if run is None or run.status in _FINISHED:
                finished.append(folder)
        for folder in finished[self.keep_finished_runs :]:
            shutil.rmtree(folder, ignore_errors=True)


def models_in_run(context: AssetExecutionContext) -> set[str]:
    """The SQLMesh models of every asset this run executes, not only this step's.

    ``context.selected_asset_keys`` covers the current step alone. The job
    that a run executes is built from the run's selection, so its graph holds
    one node per selected model asset (each model has its own op); a
    re-execution from failure narrows it to ``step_keys_to_execute``.
    """
    step_keys = context.run.step_keys_to_execute
    return {
        node.definition.tags[MODEL_OP_TAG]
        for node in context.job_def.graph.nodes
        if MODEL_OP_TAG in node.definition.tags and (step_keys is None or node.name in step_keys)
    }


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(text)
    temporary.replace(path)
