"""Which models a new execution of the run may cover, and what a step waits for before claiming one.

The run's executions are recorded by its store (:mod:`.store`: files on one
host, or SQLMesh's PostgreSQL state for steps on other hosts), each naming
the models it covers and the process that owns it. The store's claim lock
covers reading them and recording the next one, so that two steps never
claim the same model, nor start two executions for one. It must never wait
for anything but the store: not for another step (the waiting for steps
that models read happens before it is taken), not for SQLMesh.

Before claiming, a step waits for what the models still unclaimed read from
outside this project, so that one execution covers them all. Whatever it
waits for must end without this step, or the run never ends:

- a step of the run that is not this project's, while it runs. Once started
  it needs nothing of this project's unclaimed models (Dagster started it
  after everything it reads), and SQLMesh's steps start after the other
  ready steps (``SQLMESH_OP_TAGS``), so an ingestion asset has started by
  the time a model below it is claimed;
- a model of another SQLMesh project (two components that split one project
  are two projects here), until the execution of that project that covers
  it has its outcome, even if its step has not started. That execution needs
  nothing of this project's unclaimed models: a project claims a model only
  once the steps it reads have succeeded, and no step below an unclaimed
  model has. It runs apart from the steps (in a process of its own), so it
  needs no step to go on, nor a slot of the executor. A model its outcome says is built counts as a
  succeeded step: the models below it are ready now, though its step, which
  only reports that outcome, may not have run yet.

Never a step that has not started and whose model no execution covers yet.
It may be below one of this project's unclaimed models (a model, then an
asset of another project that reads it, then a model reading that asset:
only a second execution can build that, see docs/adr/0002), and even when it
is not, it needs a slot of the executor that the waiting step may be holding
(the in-process executor has a single one). A model that reads such a step
is left to a later execution, claimed by the first step that needs it.
"""

import time
from collections.abc import Mapping
from enum import Enum
from pathlib import Path

from dagster import DagsterEventType

from ..execution.selection import ModelElsewhere, RunSelection, StepContext
from .store import Claim, RunStore, covering

_FOREIGN_POLL_SECONDS = 0.5
QUEUED_STEP_GRACE_SECONDS = 60.0
"""How long a step waits, before claiming, for a step that a worker has been handed but not started.

Under an executor that hands steps to workers of their own (a store with
``steps_queue``), an asset SQLMesh reads is handed out before the models
below it (it has the higher priority) but may start later, while its
worker loads the code. Waiting for it lets one execution cover the models
that read it. If no worker takes it in time (every slot busy), the step
stops waiting for it: those models get a later execution, as under the
in-process executor.
"""


def wait_for_foreign_steps(
    context: StepContext, selection: RunSelection, claimed: set[str], store: RunStore, run_dir: Path
) -> None:
    """Wait while what unclaimed models read from outside this project is being built (module docstring).

    ``run_dir``: this project's folder of the run; the other projects' are beside it.
    """
    said = False
    queued_until = time.monotonic() + QUEUED_STEP_GRACE_SECONDS
    while waiting := _unsettled(
        context,
        selection,
        claimed,
        store,
        run_dir,
        queued=store.steps_queue and time.monotonic() < queued_until,
    ):
        if not said:
            context.log.info(_waiting_message(waiting, selection))
            said = True
        time.sleep(_FOREIGN_POLL_SECONDS)


def ready_models(
    context: StepContext, selection: RunSelection, claimed: set[str], store: RunStore, run_dir: Path
) -> set[str]:
    """Models of the run that no execution has claimed and whose upstream steps have all succeeded.

    A step of another SQLMesh project has succeeded, here, as soon as that
    project's execution has built its model.
    """
    waiting = {fqn: s for fqn, s in selection.models.items() if fqn not in claimed}
    foreign = _foreign_steps(selection, claimed)
    if not foreign:
        return set(waiting)
    _, _, succeeded = _step_states(context, foreign)
    built = succeeded | {
        step
        for step, progress in _progress_elsewhere(store, run_dir, selection.built_elsewhere, foreign).items()
        if progress is Progress.BUILT
    }
    return {fqn for fqn, s in waiting.items() if s.waits_for <= built}


class Progress(Enum):
    """How far another SQLMesh project's execution of the run is with one of its models."""

    BUILDING = "building"
    """Its execution has not reported the model yet."""
    BUILT = "built"
    """Reported as built (or up to date): the models below it may be evaluated."""
    NOT_BUILT = "not built"
    """Reported failed or skipped, or its execution ended without it: Dagster skips what is below."""


def progress_of(claim: Claim, fqn: str) -> Progress:
    """How far the execution of ``claim`` is with ``fqn``, from its stream and its owner's process.

    An owner gone without ending the stream will never end it: its steps
    fail (see :mod:`.following`), and the model is not built.
    """
    owner_alive = claim.store.owner_alive(claim)  # before reading: what it wrote before it died is read
    state = claim.store.reader(claim).read()
    outcome = state.outcomes.get(fqn)
    if outcome is not None:
        return Progress.BUILT if outcome.done else Progress.NOT_BUILT
    return Progress.BUILDING if state.end is None and owner_alive else Progress.NOT_BUILT


def _unsettled(
    context: StepContext,
    selection: RunSelection,
    claimed: set[str],
    store: RunStore,
    run_dir: Path,
    queued: bool = False,
) -> list[str]:
    """The steps unclaimed models read that are still at work and safe to wait for (module docstring).

    ``queued``: a step the executor has handed to a worker counts as started (see
    ``QUEUED_STEP_GRACE_SECONDS``).
    """
    foreign = _foreign_steps(selection, claimed)
    if not foreign:
        return []
    elsewhere = _progress_elsewhere(store, run_dir, selection.built_elsewhere, foreign)
    started, ended, _ = _step_states(context, foreign - set(elsewhere), queued)
    building = {step for step, progress in elsewhere.items() if progress is Progress.BUILDING}
    return sorted(building | (started - ended))


def _progress_elsewhere(
    store: RunStore, run_dir: Path, built_elsewhere: Mapping[str, ModelElsewhere], steps: set[str]
) -> dict[str, Progress]:
    """Of ``steps``, those whose model an execution of another SQLMesh project covers, and its progress."""
    progress = {}
    for step in steps:
        model = built_elsewhere.get(step)
        if model is None:
            continue
        claim, _ = covering(store, run_dir.parent / model.project, model.fqn)
        if claim is not None:
            progress[step] = progress_of(claim, model.fqn)
    return progress


def _waiting_message(steps: list[str], selection: RunSelection) -> str:
    """What the step waits for, and why: said once, when it starts waiting."""
    models = sorted(
        f"{model.fqn} (SQLMesh project '{model.project}')"
        for step in steps
        if (model := selection.built_elsewhere.get(step)) is not None
    )
    return (
        f"Waiting for step(s) {', '.join(steps)}, which SQLMesh models of this run read, so that one "
        "SQLMesh execution covers them"
        + (f"; of another SQLMesh project's execution of this run: {', '.join(models)}" if models else "")
        + "."
    )


def _foreign_steps(selection: RunSelection, claimed: set[str]) -> set[str]:
    """The steps, not this project's, that the run's unclaimed models wait for."""
    return set().union(*(s.waits_for for fqn, s in selection.models.items() if fqn not in claimed))


def _step_states(
    context: StepContext, steps: set[str], queued: bool = False
) -> tuple[set[str], set[str], set[str]]:
    """Which of ``steps`` the run has started, which have ended, and which succeeded.

    ``queued``: a step with an engine event of its own (the executor handed it to a
    worker: "Submitting celery task for step ...") counts as started.
    """
    kinds = {
        *([DagsterEventType.ENGINE_EVENT] if queued else []),
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
