"""Deleting the result folders of finished runs, beyond the newest few kept for inspection."""

import shutil
from collections.abc import Callable
from pathlib import Path

from dagster import DagsterInstance, DagsterRunStatus

_FINISHED = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}


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


def run_is_finished(instance: DagsterInstance, run_id: str) -> bool:
    """Whether the run ended (or is unknown to the instance): its folder is no longer written."""
    run = instance.get_run_by_id(run_id)
    return run is None or run.status in _FINISHED


def _modified(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:  # deleted meanwhile
        return 0.0
