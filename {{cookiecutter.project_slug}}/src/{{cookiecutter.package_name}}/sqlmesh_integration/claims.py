"""Claiming a run's SQLMesh execution: which execution covers a model, and starting a new one.

The run's executions are recorded in its folder (see :mod:`.run_results`) as
``started-<n>.json`` files, each naming the models execution ``n`` covers
and the process that owns it. ``execution.lock`` is a file lock over that
folder. It covers reading the ``started`` files and writing the next one,
so that two steps never claim the same model, nor start two executions for
one. It must never wait for anything but the files: not for another step
(the waiting for steps that models read happens before it is taken), not for
the event log, not for SQLMesh.
"""

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dagster import DagsterEventType
from filelock import FileLock

from .selection import RunSelection, StepContext

_FOREIGN_POLL_SECONDS = 0.5


@dataclass(frozen=True)
class Claim:
    """An execution of the run that covers a model: found, or claimed just now to be started."""

    run_dir: Path
    number: int
    covers: list[str]
    owner: int
    """The process that started it (or will): it stops it, and records how it ended."""
    to_start: bool

    @property
    def events(self) -> Path:
        return self.run_dir / f"events-{self.number}.jsonl"


def claim_execution(
    run_dir: Path,
    fqn: str,
    ready: Callable[[set[str]], set[str]],
    before_claiming: Callable[[set[str]], None] = lambda claimed: None,
) -> Claim:
    """The execution of the run that covers ``fqn``; claimed now, if none does yet.

    Safe across the processes of a run (``execution.lock``). When no execution
    covers ``fqn``, ``before_claiming(claimed)`` runs outside the lock (it may
    wait for other steps), then a new execution covers every model ``ready``
    allows (never fewer than ``fqn`` itself): models no earlier execution
    claimed. ``ready`` runs under the lock, so it must only look, never wait.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(run_dir / "execution.lock")
    with lock:
        found, claimed = _covering(run_dir, fqn)
    if found is not None:
        return found
    before_claiming(claimed)
    with lock:
        found, claimed = _covering(run_dir, fqn)
        if found is not None:
            return found
        covers = sorted(ready(claimed) | {fqn})
        number = len(started_executions(run_dir)) + 1
        _write_atomically(
            run_dir / f"started-{number}.json", json.dumps({"covers": covers, "owner": os.getpid()})
        )
        return Claim(run_dir, number, covers, os.getpid(), to_start=True)


def started_executions(run_dir: Path) -> list[Claim]:
    """The run's executions so far, in order, from their ``started`` files."""
    claims = []
    for path in sorted(run_dir.glob("started-*.json"), key=_number):
        record = json.loads(path.read_text())
        claims.append(Claim(run_dir, _number(path), record["covers"], record["owner"], to_start=False))
    return claims


def wait_for_foreign_steps(context: StepContext, selection: RunSelection, claimed: set[str]) -> None:
    """Wait while steps that are not SQLMesh's, and that unclaimed models read, are running.

    They run in their own process, and SQLMesh steps start after them (see
    ``SQLMESH_OP_TAGS``): waiting for the ones the executor has already
    started gives an ingestion asset and the models below it one execution,
    as a run of SQLMesh models only has.
    """
    foreign = _foreign_steps(selection, claimed)
    said = False
    while foreign:
        started, ended, _ = _step_states(context, foreign)
        running = sorted(started - ended)
        if not running:
            return
        if not said:
            context.log.info(
                f"Waiting for step(s) {', '.join(running)}, which SQLMesh models of this run read, "
                "so that one SQLMesh execution covers them."
            )
            said = True
        time.sleep(_FOREIGN_POLL_SECONDS)


def ready_models(context: StepContext, selection: RunSelection, claimed: set[str]) -> set[str]:
    """Models of the run that no execution has claimed and whose upstream steps have all succeeded."""
    waiting = {fqn: s for fqn, s in selection.models.items() if fqn not in claimed}
    foreign = _foreign_steps(selection, claimed)
    if not foreign:
        return set(waiting)
    _, _, succeeded = _step_states(context, foreign)
    return {fqn for fqn, s in waiting.items() if s.waits_for <= succeeded}


def _covering(run_dir: Path, fqn: str) -> tuple[Claim | None, set[str]]:
    """The execution that covers ``fqn`` if one does, and every model the run's executions claimed."""
    claimed: set[str] = set()
    for claim in started_executions(run_dir):
        if fqn in claim.covers:
            return claim, claimed | set(claim.covers)
        claimed |= set(claim.covers)
    return None, claimed


def _foreign_steps(selection: RunSelection, claimed: set[str]) -> set[str]:
    """The steps, not SQLMesh's, that the run's unclaimed models wait for."""
    return set().union(*(s.waits_for for fqn, s in selection.models.items() if fqn not in claimed))


def _step_states(context: StepContext, steps: set[str]) -> tuple[set[str], set[str], set[str]]:
    """Which of ``steps`` the run has started, which have ended, and which succeeded."""
    kinds = {
        DagsterEventType.STEP_WORKER_STARTING,
        DagsterEventType.STEP_START,
        DagsterEventType.STEP_SUCCESS,
        DagsterEventType.STEP_FAILURE,
        DagsterEventType.STEP_SKIPPED,
    }
    started: set[str] = set()
    ended: set[str] = set()
    succeeded: set[str] = set()
    for record in context.instance.all_logs(context.run.run_id, of_type=kinds):
        event = record.dagster_event
        if event is None or event.step_key not in steps:
            continue
        started.add(event.step_key)
        if event.event_type in (
            DagsterEventType.STEP_SUCCESS,
            DagsterEventType.STEP_FAILURE,
            DagsterEventType.STEP_SKIPPED,
        ):
            ended.add(event.step_key)
        if event.event_type == DagsterEventType.STEP_SUCCESS:
            succeeded.add(event.step_key)
    return started, ended, succeeded


def _number(path: Path) -> int:
    return int(path.stem.rsplit("-", 1)[1])


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(text)
    temporary.replace(path)
