"""Runs of a baked project started together, and what they say about each other.

A run is the project's own Python running dagster_probe.py (a real
``execute_job``, in-process), started in a session of its own so that a test
can kill it, and every process it started, by its id.
"""

import json
import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from helpers.project import PROBE, Scratch, run

WAITED_FOR = "sqlmesh/waited_for"
"""Materialization metadata: the run whose lock the model's execution waited for."""

RUN_ID = re.compile(r"__ASSET_JOB - ([0-9a-f-]{36}) - ")
BATCH = re.compile(r"^(?P<model>\S+) \[(?P<start>\S+) \.\. (?P<end>\S+)\]$")


@dataclass
class StartedRun:
    """A probe started in the background: :meth:`result` waits for its JSON summary."""

    process: subprocess.Popen
    started_at: float

    def result(self, timeout: float = 600) -> dict:
        stdout, stderr = self.process.communicate(timeout=timeout)
        assert self.process.returncode == 0, f"probe failed\n{stdout[-3000:]}\n{stderr[-5000:]}"
        return json.loads(stdout)

    def kill(self) -> None:
        """SIGKILL the run's process group: the run and every process it started."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


def create_instance(scratch: Scratch) -> None:
    """Create the Dagster instance's storage before runs start together.

    Dagster's SQLite storage, created by two processes at once, records two schema
    versions and fails every later use; an instance any command has used is safe.
    """
    dagster = scratch.project.root / ".venv" / "bin" / "dagster"
    run([str(dagster), "instance", "migrate"], scratch.project.root, scratch.env())


def start_probe(scratch: Scratch, *arguments: str, env: dict[str, str] | None = None) -> StartedRun:
    """Start dagster_probe.py on ``scratch`` with ``arguments``, without waiting for it."""
    project = scratch.project
    command = [str(project.python), str(PROBE), project.package, *arguments]
    process = subprocess.Popen(
        command,
        cwd=project.root,
        env={**scratch.env(), **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    return StartedRun(process, time.monotonic())


def start_make_run(root: Path, env: dict[str, str]) -> subprocess.Popen:
    """``make run`` in the project, as a terminal would start it, its output captured."""
    env = {name: value for name, value in env.items() if name not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    return subprocess.Popen(
        ["make", "run"], cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def run_id_of(output: str) -> str:
    """The run id a ``dagster asset materialize`` printed."""
    match = RUN_ID.search(output)
    assert match, f"no run id in:\n{output[-3000:]}"
    return match.group(1)


def evaluated_intervals(summary: dict) -> list[tuple[str, datetime, datetime]]:
    """Each batch a run evaluated: its model and interval, from the run's "SQLMesh: evaluated" lines."""
    intervals = []
    for batch in summary["evaluated_batches"]:
        match = BATCH.match(batch)
        assert match, batch
        start, end = (datetime.fromisoformat(match[part]) for part in ("start", "end"))
        intervals.append((match["model"], start, end))
    return intervals


def overlapping_evaluations(first: dict, second: dict) -> list[tuple]:
    """Pairs of batches of one model whose intervals two runs both evaluated (none, when coordinated)."""
    return [
        (a, b)
        for a in evaluated_intervals(first)
        for b in evaluated_intervals(second)
        if a[0] == b[0] and a[1] < b[2] and b[1] < a[2]
    ]


def waited_for(summary: dict) -> dict[str, str]:
    """The assets whose execution waited for another run's lock, with the run it names."""
    return {
        key: metadata[WAITED_FOR]
        for key, metadata in summary["materialized"].items()
        if WAITED_FOR in metadata
    }
