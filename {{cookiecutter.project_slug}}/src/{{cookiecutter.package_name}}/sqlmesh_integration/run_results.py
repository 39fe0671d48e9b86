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
from collections.abc import Callable
from pathlib import Path

from dagster import (
    ConfigurableResource,
    DagsterRunStatus,
    Failure,
)
from filelock import FileLock
from pydantic import Field

from .isolation import run_isolated
from .outcomes import ExecutionResults
from .resource import MaterializeMode, SQLMeshResource
from .selection import StepContext, run_selection

MODE_TAG = "sqlmesh/mode"
_FINISHED = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}
_REMEMBERED_RUNS = 8
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

    def get_or_execute(self, context: StepContext, sqlmesh: SQLMeshResource) -> ExecutionResults:
        """The results of this run's SQLMesh execution, executing it if no step has yet."""
        run_id = context.run.run_id
        if run_id in _results_in_this_process:
            return _results_in_this_process[run_id]
        mode = self._mode(context)
        runs_dir = Path(context.instance.storage_directory()) / "sqlmesh_runs"
        results, executed_here = execute_once(
            runs_dir / run_id, lambda: self._execute(context, sqlmesh, mode)
        )
        if executed_here:
            self._prune(context, runs_dir, keep=run_id)
        _remember(run_id, results)
        return results

    def _mode(self, context: StepContext) -> MaterializeMode:
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
        self, context: StepContext, sqlmesh: SQLMeshResource, mode: MaterializeMode
    ) -> ExecutionResults:
        run_id = context.run.run_id
        selection = run_selection(context)
        audit_only = selection.to_audit_only
        context.log.info(
            f"SQLMesh execution for run {run_id}: {len(selection.to_materialize)} model(s), mode "
            f"'{mode.value}'{f', audits of {len(audit_only)} more' if audit_only else ''}, "
            f"executed by step '{context.op_execution_context.op_handle}' and shared with every step "
            "of the run"
        )
        try:
            outcomes, plan_applied = run_isolated(
                lambda send_line: sqlmesh.execute(selection, mode, send_line), context.log.info
            )
        except Exception as error:  # reported by every asset of the run, see factory
            notes = "".join(f"\n{note}" for note in getattr(error, "__notes__", []))
            context.log.error(f"SQLMesh could not execute: {type(error).__name__}: {error}{notes}")
            return ExecutionResults(run_id=run_id, mode=mode.value, models={}, error=str(error))
        return ExecutionResults(run_id=run_id, mode=mode.value, models=outcomes, plan_applied=plan_applied)

    def _prune(self, context: StepContext, runs_dir: Path, keep: str) -> None:
        """Delete result folders of finished runs beyond the newest ``keep_finished_runs``.

        Housekeeping never fails a step: with several runs at once, another
        run may be pruning the same folders.
        """
        try:
            finished = [
                folder
                for folder in sorted(runs_dir.iterdir(), key=_modified, reverse=True)
                if folder.is_dir() and folder.name != keep and _is_finished(context, folder.name)
            ]
            for folder in finished[self.keep_finished_runs :]:
                shutil.rmtree(folder, ignore_errors=True)
        except Exception as error:
            context.log.warning(f"Could not prune old SQLMesh result folders in {runs_dir}: {error}")


def execute_once(run_dir: Path, execute: Callable[[], ExecutionResults]) -> tuple[ExecutionResults, bool]:
    """The run's results, calling ``execute`` only if no process has yet; whether it was called here.

    Safe across the processes of a run (a file lock); a ``started`` marker
    without results means the executing process died: the run fails rather
    than executing SQLMesh a second time.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    results_file = run_dir / "results.json"
    with FileLock(run_dir / "execution.lock"):
        if results_file.exists():
            return ExecutionResults.from_json(results_file.read_text()), False
        if (run_dir / "started").exists():
            raise Failure(
                "The step that was executing SQLMesh for this run stopped before it shared its "
                "results. Re-execute the run (from failure) to execute SQLMesh again.",
                allow_retries=False,
            )
        (run_dir / "started").write_text(str(os.getpid()))
        results = execute()
        _write_atomically(results_file, results.to_json())
        return results, True


def _remember(run_id: str, results: ExecutionResults) -> None:
    """Keep the latest runs' results in memory, so the steps of a run in this process read them once."""
    _results_in_this_process[run_id] = results
    while len(_results_in_this_process) > _REMEMBERED_RUNS:
        del _results_in_this_process[next(iter(_results_in_this_process))]


def _modified(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:  # deleted meanwhile
        return 0.0


def _is_finished(context: StepContext, run_id: str) -> bool:
    run = context.instance.get_run_by_id(run_id)
    return run is None or run.status in _FINISHED


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(text)
    temporary.replace(path)
