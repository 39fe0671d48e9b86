"""How long after SQLMesh finished each model its Dagster step reported it, as JSON.

Runs inside the baked project's virtual environment against DAGSTER_HOME. Usage:

    python report_lag.py RUN_ID

Times are seconds since SQLMesh finished its first model.

SQLMesh's side is the run's execution stream (``<storage>/sqlmesh_runs/<run>/<project>/
events-*.jsonl``): each model's outcome is appended when SQLMesh reports it, with the
time (``at``); the execution's end is the ``ended`` event. Dagster's side is the run's
event log: the first event that ends the model's step for the UI (its materialization,
its failure, its skip, or Dagster's word that it will not execute it).
"""

import json
import re
import sys
from pathlib import Path

from dagster import DagsterEventType, DagsterInstance

REPORTING = {
    DagsterEventType.ASSET_MATERIALIZATION,
    DagsterEventType.STEP_FAILURE,
    DagsterEventType.STEP_SKIPPED,
}


def sqlmesh_side(instance: DagsterInstance, run_id: str) -> tuple[dict[str, dict], float]:
    """Each model's outcome (its name, status and the time it was appended), and the execution's end."""
    folder = Path(instance.storage_directory()) / "sqlmesh_runs" / run_id
    streams = sorted(folder.glob("*/events-*.jsonl"))
    assert len(streams) == 1, f"one SQLMesh execution expected, found {streams}"
    finished, ended = {}, None
    for line in streams[0].read_text().splitlines():
        event = json.loads(line)
        if event["event"] == "model_finished":
            outcome = event["outcome"]
            finished[outcome["model"]] = {"status": outcome["status"], "finished": event["at"]}
        elif event["event"] == "ended":
            ended = event["at"]
    assert ended is not None, f"{streams[0]} has no end"
    return finished, ended


NOT_EXECUTING = re.compile(r"Dependencies for step (\S+) (?:failed|were not executed): .*Not executing")
"""What Dagster logs for a step it will not execute because a step above it failed or was not executed."""


def dagster_side(instance: DagsterInstance, run_id: str) -> tuple[dict[str, float], dict[str, float]]:
    """When each step started, and the time of the first event that ends it for the UI, by step key.

    A step Dagster does not execute "starts" when the step above it ended: the
    latest event that ended a step before Dagster said so.
    """
    started: dict[str, float] = {}
    reported: dict[str, float] = {}
    last_end = 0.0
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event is not None and event.step_key and event.event_type is DagsterEventType.STEP_START:
            started.setdefault(event.step_key, record.timestamp)
        elif event is not None and event.step_key and event.event_type in REPORTING:
            reported.setdefault(event.step_key, record.timestamp)
            last_end = record.timestamp
        elif skipped := NOT_EXECUTING.search(record.user_message or ""):
            started.setdefault(skipped.group(1), last_end)
            reported.setdefault(skipped.group(1), record.timestamp)
            last_end = record.timestamp
    return started, reported


def main() -> None:
    run_id = sys.argv[1]
    instance = DagsterInstance.get()
    finished, ended = sqlmesh_side(instance, run_id)
    started, reported = dagster_side(instance, run_id)
    start = min(entry["finished"] for entry in finished.values())

    def since_start(moment: float | None) -> float | None:
        return None if moment is None else round(moment - start, 3)

    models = {}
    for model, entry in finished.items():
        step = model.replace(".", "__")  # the step of asset schema/table
        models[model] = {
            "status": entry["status"],
            "finished": since_start(entry["finished"]),
            "step_started": since_start(started.get(step)),
            "reported": since_start(reported.get(step)),
        }
    print(json.dumps({"ended": round(ended - start, 3), "models": models}, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
