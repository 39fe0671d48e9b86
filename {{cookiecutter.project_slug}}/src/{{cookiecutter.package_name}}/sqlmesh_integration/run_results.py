"""One SQLMesh execution per Dagster run, shared by every step of the run.

Dagster's default executor runs each asset step in its own process, so
in-memory state cannot be shared between the steps of a run. The results
therefore live in a run-scoped folder of the Dagster instance's storage:

    <storage>/sqlmesh_runs/<run_id>/
        execution.lock      held while one step executes SQLMesh
        started-<n>.json    the models execution n covers, written before it begins
        results-<n>.json    what SQLMesh did to each of them

The first step to take the lock executes SQLMesh for every model of the
run (not only its own) and writes its results; every other step waits for
the lock and reads them. A ``started`` file without results means the
executing process died: the run fails rather than executing twice.

A run that also holds assets SQLMesh does not build (an ingestion step, a
Python asset SQLMesh reads as an external table) may need more than one
execution: a model below such an asset is left to a later execution, made
by the first step that needs it once that asset's step has succeeded (so
SQLMesh reads the fresh table). A run of SQLMesh assets only always has one.
"""

import functools
import json
import shutil
from collections.abc import Callable
from pathlib import Path

from dagster import (
    ConfigurableResource,
    DagsterEventType,
    DagsterRunStatus,
    Failure,
)
from filelock import FileLock
from pydantic import Field

from .isolation import run_isolated
from .outcomes import ExecutionResults
from .resource import MaterializeMode, SQLMeshResource
from .selection import RunSelection, StepContext, run_selection

MODE_TAG = "sqlmesh/mode"
_FINISHED = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}
_REMEMBERED_RUNS = 8
_results_in_this_process: dict[str, dict[str, ExecutionResults]] = {}


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

    def get_or_execute(self, context: StepContext, sqlmesh: SQLMeshResource, fqn: str) -> ExecutionResults:
        """The results of the execution that covers ``fqn``, executing it if no step has yet."""
        run_id = context.run.run_id
        remembered = _results_in_this_process.get(run_id, {})
        if fqn in remembered:
            return remembered[fqn]
        mode = self._mode(context)
        runs_dir = Path(context.instance.storage_directory()) / "sqlmesh_runs"

        # Read only by the step that executes: every other step just reads the results.
        @functools.cache
        def selection() -> RunSelection:
            return run_selection(context)

        results, executed_here = execute_once(
            runs_dir / run_id,
            fqn,
            ready=lambda claimed: _ready(context, selection(), claimed),
            execute=lambda wave, earlier: self._execute(context, sqlmesh, mode, selection(), wave, earlier),
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
        self,
        context: StepContext,
        sqlmesh: SQLMeshResource,
        mode: MaterializeMode,
        selection: RunSelection,
        wave: set[str],
        earlier: list[ExecutionResults],
    ) -> ExecutionResults:
        run_id = context.run.run_id
        selection = selection.restricted_to(wave)
        audit_only = selection.to_audit_only
        after = sorted(set().union(*(s.waits_for for s in selection.models.values())))
        context.log.info(
            f"SQLMesh execution for run {run_id}: {len(selection.to_materialize)} model(s), mode "
            f"'{mode.value}'{f', audits of {len(audit_only)} more' if audit_only else ''}, "
            f"executed by step '{context.op_execution_context.op_handle}' and shared with every step "
            "of the run" + (f" that needs it (after step(s) {', '.join(after)})" if after else "")
        )
        # Models below what an earlier execution of this run failed, skipped or could not build.
        not_done = {
            fqn for results in earlier for fqn, outcome in results.models.items() if not outcome.done
        } | {fqn for results in earlier if results.error for fqn in results.covers}
        try:
            outcomes, plan_applied = run_isolated(
                lambda send_line: sqlmesh.execute(selection, mode, send_line, not_done), context.log.info
            )
        except Exception as error:  # reported by every asset of the run, see factory
            notes = "".join(f"\n{note}" for note in getattr(error, "__notes__", []))
            context.log.error(f"SQLMesh could not execute: {type(error).__name__}: {error}{notes}")
            return ExecutionResults(
                run_id=run_id, mode=mode.value, models={}, error=str(error), covers=sorted(wave)
            )
        return ExecutionResults(
            run_id=run_id, mode=mode.value, models=outcomes, plan_applied=plan_applied, covers=sorted(wave)
        )

    def _prune(self, context: StepContext, runs_dir: Path, keep: str) -> None:
        error = prune_finished_runs(
            runs_dir,
            keep=keep,
            keep_finished=self.keep_finished_runs,
            is_finished=lambda run_id: _is_finished(context, run_id),
        )
        if error is not None:
            context.log.warning(f"Could not prune old SQLMesh result folders in {runs_dir}: {error}")


def prune_finished_runs(
    runs_dir: Path, keep: str, keep_finished: int, is_finished: Callable[[str], bool]
) -> Exception | None:
    """Delete result folders of finished runs beyond the newest ``keep_finished``; return what went wrong.

    Housekeeping never fails a step: with several runs at once, another run
    may be pruning, or writing, the same folder. A run that is not finished
    keeps its folder.
    """
    try:
        finished = [
            folder
            for folder in sorted(runs_dir.iterdir(), key=_modified, reverse=True)
            if folder.is_dir() and folder.name != keep and is_finished(folder.name)
        ]
        for folder in finished[keep_finished:]:
            shutil.rmtree(folder, ignore_errors=True)
    except Exception as error:
        return error
    return None


def execute_once(
    run_dir: Path,
    fqn: str,
    ready: Callable[[set[str]], set[str]],
    execute: Callable[[set[str], list[ExecutionResults]], ExecutionResults],
) -> tuple[ExecutionResults, bool]:
    """The results of the execution that covers ``fqn``; whether it was executed here.

    Safe across the processes of a run (a file lock). If no execution covers
    ``fqn`` yet, one is made for every model ``ready`` allows (never fewer
    than ``fqn`` itself): models no earlier execution claimed whose upstream
    steps have succeeded. A ``started`` file without results means the
    executing process died: the run fails rather than executing SQLMesh a
    second time.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(run_dir / "execution.lock"):
        earlier: list[ExecutionResults] = []
        claimed: set[str] = set()
        for started in sorted(run_dir.glob("started-*.json"), key=_number):
            covers = set(json.loads(started.read_text()))
            results_file = run_dir / f"results-{_number(started)}.json"
            if not results_file.exists():
                if fqn in covers:
                    raise Failure(
                        "The step that was executing SQLMesh for this run stopped before it shared its "
                        "results. Re-execute the run (from failure) to execute SQLMesh again.",
                        allow_retries=False,
                    )
                claimed |= covers
                continue
            results = ExecutionResults.from_json(results_file.read_text())
            if fqn in covers:
                return results, False
            earlier.append(results)
            claimed |= covers
        wave = ready(claimed) | {fqn}
        number = len(list(run_dir.glob("started-*.json"))) + 1
        (run_dir / f"started-{number}.json").write_text(json.dumps(sorted(wave)))
        results = execute(wave, earlier)
        _write_atomically(run_dir / f"results-{number}.json", results.to_json())
        return results, True


def _ready(context: StepContext, selection: RunSelection, claimed: set[str]) -> set[str]:
    """Models of the run that no execution has claimed and whose upstream steps have all succeeded."""
    waiting = {fqn: s for fqn, s in selection.models.items() if fqn not in claimed}
    if not any(s.waits_for for s in waiting.values()):
        return set(waiting)
    succeeded = {
        record.dagster_event.step_key
        for record in context.instance.all_logs(context.run.run_id, of_type=DagsterEventType.STEP_SUCCESS)
        if record.dagster_event is not None
    }
    return {fqn for fqn, s in waiting.items() if s.waits_for <= succeeded}


def _number(path: Path) -> int:
    return int(path.stem.rsplit("-", 1)[1])


def _remember(run_id: str, results: ExecutionResults) -> None:
    """Keep the latest runs' results in memory, so the steps of a run in this process read them once."""
    remembered = _results_in_this_process.setdefault(run_id, {})
    remembered.update(dict.fromkeys(results.covers, results))
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
