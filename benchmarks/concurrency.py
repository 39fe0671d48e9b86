"""The concurrency case: do disjoint runs started together overlap, with SQLMesh's state on PostgreSQL?

The generated project coordinates SQLMesh executions through locks on the
shared state (its ``execution/coordination.py`` and ADR 0011): each run locks the models
it materializes, and plans take one lock per state, so plans go one at a
time. Runs of disjoint models should therefore evaluate side by side, unless
they need a plan. This module writes the workload, runs one batch of
``dagster asset materialize`` processes, all started together or one after
another, and reads each run back from Dagster's instance; ``run.py`` decides
which batches run, and when.

The workload is ``k`` independent chains of CHAIN_MODELS models, each in its
own schema (one Dagster group per schema). Every model waits MODEL_SECONDS in
PostgreSQL (``pg_sleep``, once per evaluation) and then writes ROWS rows, from
``generate_series`` for the first model of a chain and from its parent for
the others. The wait stands for the warehouse's work: in a deployment that
work happens on the warehouse's own machines while the run's process waits
for it, whereas a query that burns CPU in a PostgreSQL server on the
benchmark's own (two) cores would compete with the runs' Python for those
cores and measure the core count, not whether the runs wait for each other.

Two modes, because runs that need a plan and runs that need none behave
differently:

- ``partition``: the chains are ``INCREMENTAL_BY_TIME_RANGE`` models tagged
  ``dagster_partitioned`` (one partition per day); every batch materializes a
  new day (``--partition``), so each run has one interval per model to fill.
  After the deployment nothing changes, so the runs apply no plan: SQLMesh's
  ``run`` evaluates the day under the models' locks only. This is what a
  schedule's disjoint runs do.
- ``restate``: the chains are FULL models restated (``sqlmesh/mode`` =
  ``restate``). Restating unpartitioned models is a SQLMesh plan, which takes
  the plan lock: such runs take turns at the plan, and the waits say so.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import statistics
import subprocess
import threading
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from processes import end_session, session_members

MODES = ("partition", "restate")
CHAIN_MODELS = 3
MODEL_SECONDS = 1.0
ROWS = 1000
ARRANGEMENTS = ("together", "one after another")
RUN_TIMEOUT_S = 900
SCHEMA_PREFIX = {"partition": "daily", "restate": "full"}
# The resource config `make run MODE=restate` passes (the generated Makefile's `run`).
RESTATE_CONFIG = {"resources": {"sqlmesh_results": {"config": {"mode": "restate"}}}}
# What a waiting execution logs when it gets the lock (the generated execution/coordination.py's wording).
WAITED = re.compile(
    r"SQLMesh: waited (?P<seconds>\d+(?:\.\d+)?) s for (?P<what>.+?)(?:, held by (?P<holder>.+))?$"
)
# The run's id, in Dagster's console line for the run's start. That line comes before the steps;
# the steps' own lines are not read from the console: it mirrors them from the compute log file,
# and the mirror can drop the last lines of a step (a run's last materialization among them).
RUN_START = re.compile(r" - (?P<run_id>[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}) - .*\bRUN_START\b")


# ---------------------------------------------------------------- the workload


def group_of(mode: str, chain: int) -> str:
    """The schema of chain ``chain`` (1-based), which is also its Dagster group."""
    return f"{SCHEMA_PREFIX[mode]}_{chain}"


def model_of(mode: str, chain: int, step: int) -> str:
    return f"{group_of(mode, chain)}.step_{step}"


def model_sql(mode: str, chain: int, step: int) -> str:
    """One model, in PostgreSQL's dialect: MODEL_SECONDS of waiting in the server, then ROWS rows.

    ``pg_sleep`` sits in an uncorrelated scalar subquery of the WHERE clause,
    which PostgreSQL evaluates once per query (an InitPlan), not once per row.
    """
    name = model_of(mode, chain, step)
    if mode == "partition":
        kind = "INCREMENTAL_BY_TIME_RANGE (\n    time_column day\n  ),\n  cron '@daily',\n  tags (dagster_partitioned)"
    else:
        kind = "FULL"
    wait = f"(SELECT TRUE FROM pg_sleep({MODEL_SECONDS}))"
    day = "@start_date AS day,\n  " if mode == "partition" else ""
    if step == 0:
        body = f"""SELECT
  {day}CAST(g.id AS INTEGER) AS id,
  CAST(g.id % 100 AS INTEGER) AS grp,
  CAST(g.id * 0.5 AS DOUBLE PRECISION) AS amount
FROM generate_series(1, {ROWS}) AS g(id)
WHERE {wait}
"""
    else:
        parent = model_of(mode, chain, step - 1)
        in_range = "p.day BETWEEN @start_date AND @end_date AND " if mode == "partition" else ""
        parent_day = "p.day,\n  " if mode == "partition" else ""
        body = f"""SELECT
  {parent_day}p.id,
  p.grp,
  CAST(p.amount + SUM(p.amount) OVER (PARTITION BY p.grp ORDER BY p.id) / {ROWS} AS DOUBLE PRECISION) AS amount
FROM {parent} AS p
WHERE {in_range}{wait}
"""
    return f"MODEL (\n  name {name},\n  kind {kind},\n  dialect postgres\n);\n\n{body}"


def write_models(models_dir: Path, modes: list[str], chains: int) -> None:
    """``chains`` chains of CHAIN_MODELS models for each mode, one folder per chain."""
    for mode in modes:
        for chain in range(1, chains + 1):
            folder = models_dir / group_of(mode, chain)
            folder.mkdir(parents=True, exist_ok=True)
            for step in range(CHAIN_MODELS):
                (folder / f"step_{step}.sql").write_text(model_sql(mode, chain, step))


def selection(mode: str, chains: range) -> str:
    """Dagster's asset selection of the given chains' groups."""
    return " or ".join(f"group:{group_of(mode, chain)}" for chain in chains)


def materialize_command(dagster: Path, package: str, mode: str, select: str, day: date | None) -> list[str]:
    """``dagster asset materialize`` as a user runs it: a day's partition, or a restatement."""
    command = [str(dagster), "asset", "materialize", "-m", f"{package}.definitions", "--select", select]
    if day is not None:
        command += ["--partition", day.isoformat()]
    if mode == "restate":
        command += ["--config-json", json.dumps(RESTATE_CONFIG)]
    return command


@dataclass
class DayCounter:
    """Hands out partitions: the deployment's day, then a new day for every batch."""

    next_day: date

    def take(self) -> date:
        day = self.next_day
        self.next_day += timedelta(days=1)
        return day


# Run with the project's interpreter (psycopg2, POSTGRES_* in the environment): which of the given
# tables has no rows (for the given day, when one is given). stdin: [[table, day or null], ...].
VERIFY_ROWS = """
import json, os, sys
import psycopg2
checks = json.loads(sys.stdin.read())
connection = psycopg2.connect(
    host=os.environ["POSTGRES_HOST"], port=os.environ["POSTGRES_PORT"],
    user=os.environ["POSTGRES_USER"], dbname=os.environ["POSTGRES_DB"],
)
connection.autocommit = True
empty = []
with connection.cursor() as cursor:
    for table, day in checks:
        try:
            if day is None:
                cursor.execute(f"SELECT COUNT(*) FROM {table}")
            else:
                cursor.execute(f"SELECT COUNT(*) FROM {table} WHERE day = %s", (day,))
            (count,) = cursor.fetchone()
        except psycopg2.Error as error:
            empty.append(f"{table}: {str(error).strip()}")
            continue
        if count == 0:
            empty.append(f"{table}: no rows" + (f" for {day}" if day else ""))
print(json.dumps({"empty": empty}))
"""


def row_checks(mode: str, chains: range, day: date | None) -> list[tuple[str, str | None]]:
    """What a batch must have written: every model of its chains, for its day in partition mode."""
    return [
        (model_of(mode, chain, step), day.isoformat() if day else None)
        for chain in chains
        for step in range(CHAIN_MODELS)
    ]


# ---------------------------------------------------------------- one batch of runs


@dataclass
class Wait:
    """One wait a run logged: how long, for which lock, and who held it."""

    seconds: float
    what: str
    holder: str | None


def waits_in(messages: str) -> list[Wait]:
    """Each distinct wait a run logged: the same wait is told in the step log of every model it held up."""
    seen: dict[tuple[str, str, str | None], Wait] = {}
    for line in messages.splitlines():
        match = WAITED.search(line.rstrip())
        if match:
            wait = Wait(float(match["seconds"]), match["what"], match["holder"])
            seen.setdefault((match["seconds"], wait.what, wait.holder), wait)
    return list(seen.values())


@dataclass
class RunOutcome:
    """One ``dagster asset materialize`` process of a batch."""

    group: str
    log: str
    expected: int
    """Materializations the run must record: one per model of its chains."""
    wall_s: float = 0.0
    returncode: int | None = None
    cpu_s: float = 0.0
    """User + system CPU of the process and its waited-for descendants (wait4)."""
    run_id: str | None = None
    status: str | None = None
    """The run's status in Dagster's instance (see :func:`check_runs`)."""
    materializations: int = 0
    waits: list[Wait] = field(default_factory=list)
    leftovers: int = 0
    """Processes still in the run's session after it exited, ended by the benchmark."""
    failure: str | None = None

    @property
    def waited_s(self) -> float:
        return sum(wait.seconds for wait in self.waits)


@dataclass
class Launch:
    """A run to start: its groups (for the report), command line, log file and materializations due."""

    group: str
    command: list[str]
    log: Path
    expected: int = CHAIN_MODELS


class _Started:
    """A started run and the thread waiting for it (``wait4``: its exit, its CPU)."""

    def __init__(self, launch: Launch, cwd: Path, env: dict[str, str]) -> None:
        self.launch = launch
        launch.log.parent.mkdir(parents=True, exist_ok=True)
        self.started = time.perf_counter()
        with open(launch.log, "w") as log:
            self.process = subprocess.Popen(
                launch.command,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.ended: float | None = None
        self.status = 0
        self.usage = None
        self.thread = threading.Thread(target=self._wait, daemon=True)
        self.thread.start()

    def _wait(self) -> None:
        _, self.status, self.usage = os.wait4(self.process.pid, 0)
        self.ended = time.perf_counter()

    def finish(self, deadline: float) -> RunOutcome:
        """Wait until the run exits (ending its session's processes, by id, at the deadline)."""
        self.thread.join(max(0.0, deadline - time.perf_counter()))
        timed_out = self.thread.is_alive()
        if timed_out:
            for pid in session_members(self.process.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self.thread.join()
        self.process.returncode = os.waitstatus_to_exitcode(self.status)  # reaped by wait4, not Popen
        leftovers = end_session(self.process.pid)
        started = RUN_START.search(self.launch.log.read_text(errors="replace"))
        outcome = RunOutcome(
            group=self.launch.group,
            log=str(self.launch.log),
            expected=self.launch.expected,
            wall_s=(self.ended or time.perf_counter()) - self.started,
            returncode=self.process.returncode,
            cpu_s=(self.usage.ru_utime + self.usage.ru_stime) if self.usage else 0.0,
            run_id=started["run_id"] if started else None,
            leftovers=len(leftovers),
        )
        if timed_out:
            outcome.failure = f"no exit after {RUN_TIMEOUT_S} s, killed (see {self.launch.log})"
        elif outcome.returncode != 0:
            outcome.failure = f"exit code {outcome.returncode} (see {self.launch.log})"
        elif outcome.run_id is None:
            outcome.failure = f"no run started (see {self.launch.log})"
        return outcome


def run_batch(
    launches: list[Launch], together: bool, cwd: Path, env: dict[str, str]
) -> tuple[float, list[RunOutcome]]:
    """Run ``launches`` all at once or one after another; the batch's wall time and each run's outcome.

    Together, every process is started before any is waited for; the wall
    time ends when the last one exits. One after another, each starts when
    the one before it has exited: the sum of k solo runs, the baseline.
    """
    start = time.perf_counter()
    outcomes: list[RunOutcome] = []
    if together:
        started = [_Started(launch, cwd, env) for launch in launches]
        deadline = time.perf_counter() + RUN_TIMEOUT_S
        outcomes = [run.finish(deadline) for run in started]
    else:
        for launch in launches:
            run = _Started(launch, cwd, env)
            outcomes.append(run.finish(time.perf_counter() + RUN_TIMEOUT_S))
    return time.perf_counter() - start, outcomes


# Run with the project's interpreter and the runs' DAGSTER_HOME: each run's status, materializations
# and the messages of its steps that tell a wait, from Dagster's instance. stdin: the run ids.
READ_RUNS = """
import json, sys
from dagster import DagsterEventType, DagsterInstance
found = {}
with DagsterInstance.get() as instance:
    for run_id in json.loads(sys.stdin.read()):
        run = instance.get_run_by_id(run_id)
        records = instance.all_logs(run_id) if run else []
        found[run_id] = {
            "status": run.status.value if run else None,
            "materializations": sum(
                1 for r in records
                if r.dagster_event and r.dagster_event.event_type == DagsterEventType.ASSET_MATERIALIZATION
            ),
            "waits": [r.user_message for r in records if "SQLMesh: waited" in (r.user_message or "")],
        }
print(json.dumps(found))
"""


def check_runs(python: Path, env: dict[str, str], outcomes: list[RunOutcome]) -> None:
    """Fill in each run's status, materializations and waits from Dagster's instance; fail what is short.

    A run counts when Dagster recorded it as a success with one materialization
    per model of its chains. The waits are the step log messages that say
    ``SQLMesh: waited``, as the run's log in the UI shows them.
    """
    started = [outcome for outcome in outcomes if outcome.run_id and outcome.failure is None]
    if not started:
        return
    result = subprocess.run(
        [str(python), "-c", READ_RUNS],
        input=json.dumps([outcome.run_id for outcome in started]),
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    found = json.loads(result.stdout.strip().splitlines()[-1]) if result.returncode == 0 else {}
    for outcome in started:
        run = found.get(outcome.run_id)
        if run is None:
            outcome.failure = (
                f"its run could not be read from Dagster's instance: {result.stderr.strip()[-300:]}"
            )
            continue
        outcome.status = run["status"]
        outcome.materializations = run["materializations"]
        outcome.waits = waits_in("\n".join(run["waits"]))
        if outcome.status != "SUCCESS" or outcome.materializations != outcome.expected:
            outcome.failure = (
                f"run {outcome.run_id} {outcome.status}, {outcome.materializations} materializations, "
                f"expected {outcome.expected} (see {outcome.log})"
            )


# ---------------------------------------------------------------- results


@dataclass
class Batch:
    """k runs of one mode, together or one after another, in one round."""

    mode: str
    k: int
    arrangement: str
    round: int
    day: str | None
    wall_s: float
    runs: list[RunOutcome]
    waited_for_quiet_s: float = 0.0
    foreign_cpu_s: float = 0.0
    """CPU the rest of the machine used meanwhile: all CPUs' busy time minus the runs' and the server's."""
    server_cpu_s: float = 0.0
    failure: str | None = None
    """A failed run, or rows the batch should have written and did not."""

    @property
    def cpu_s(self) -> float:
        return sum(run.cpu_s for run in self.runs)


@dataclass
class ConcurrencySummary:
    """Together against one after another, for one mode and one k."""

    mode: str
    k: int
    together_s: list[float]
    one_after_another_s: list[float]
    failed: int
    disturbed: int
    cpu_floor_s: float | None
    """The together batches' median of (the runs' CPU / the machine's CPUs): no wall time can be shorter."""
    waits_together: list[list[float]]
    """For each run started together, the seconds of each wait it logged."""
    waits_one_after_another: list[list[float]]
    waited_for: list[str]
    """The locks waited for, once each."""

    @property
    def ratio(self) -> float | None:
        if not self.together_s or not self.one_after_another_s:
            return None
        return statistics.median(self.together_s) / statistics.median(self.one_after_another_s)


def summarize_concurrency(
    batches: list[Batch], mode: str, k: int, cpus: int, disturbed_fraction: float
) -> ConcurrencySummary:
    """Medians over the batches that passed; a failed batch is counted, never timed."""
    mine = [b for b in batches if b.mode == mode and b.k == k]
    good = [b for b in mine if b.failure is None]
    together = [b for b in good if b.arrangement == "together"]
    apart = [b for b in good if b.arrangement != "together"]
    return ConcurrencySummary(
        mode=mode,
        k=k,
        together_s=[b.wall_s for b in together],
        one_after_another_s=[b.wall_s for b in apart],
        failed=len(mine) - len(good),
        disturbed=sum(b.foreign_cpu_s > disturbed_fraction * b.wall_s for b in good),
        cpu_floor_s=statistics.median(b.cpu_s / cpus for b in together) if together else None,
        waits_together=[[w.seconds for w in run.waits] for b in together for run in b.runs],
        waits_one_after_another=[[w.seconds for w in run.waits] for b in apart for run in b.runs],
        waited_for=sorted({_lock_kind(w.what) for b in good for run in b.runs for w in run.waits}),
    )


def _lock_kind(what: str) -> str:
    """'SQLMesh's plan lock' stays; 'model <name>' becomes 'a model's lock'."""
    return "a model's lock" if what.startswith("model ") else what


def _range(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{statistics.median(values):6.2f}s ({min(values):.2f}-{max(values):.2f})"


def _waits(per_run: list[list[float]]) -> str:
    waited = [sum(w) for w in per_run if w]
    if not per_run:
        return "-"
    if not waited:
        return f"none of {len(per_run)} runs"
    return f"{len(waited)} of {len(per_run)} runs, {sum(waited):.1f}s in all"


def format_summaries(summaries: list[ConcurrencySummary]) -> str:
    header = (
        f"{'mode':<10} {'k':>2} {'together':>22} {'one after another':>22} {'ratio':>6} {'1/k':>5} "
        f"{'CPU floor':>9}  {'waits, together':<28} {'waits, one after another':<28}"
    )
    lines = [header, "-" * len(header)]
    for s in summaries:
        ratio = "-" if s.ratio is None else f"{s.ratio:.2f}"
        floor = "-" if s.cpu_floor_s is None else f"{s.cpu_floor_s:.1f}s"
        flags = [f"{s.failed} batch(es) FAILED, not timed"] if s.failed else []
        flags += [f"{s.disturbed} disturbed"] if s.disturbed else []
        flags += [f"waited for {', '.join(s.waited_for)}"] if s.waited_for else []
        lines.append(
            f"{s.mode:<10} {s.k:>2} {_range(s.together_s):>22} {_range(s.one_after_another_s):>22} "
            f"{ratio:>6} {1 / s.k:>5.2f} {floor:>9}  {_waits(s.waits_together):<28} "
            f"{_waits(s.waits_one_after_another):<28}" + (f"  ({'; '.join(flags)})" if flags else "")
        )
    return "\n".join(lines)
