"""Benchmark the generated project's Dagster integration against bare SQLMesh.

Usage (from the template's root, after ``make test`` or ``make demo`` created .venv):

    .venv/bin/python benchmarks/run.py --models 10 50 100 200 --repeat 3

What it does, once per invocation:

1. bakes the template with ``sample_pipeline=starter`` into ``<workdir>/bake``
   and installs it with ``make install`` (uv from this interpreter's folder);
2. for every N, writes a synthetic SQLMesh project (one SEED model, N-1 FULL
   models in layers) next to a copy of the baked ``config.py``;
3. runs every contestant ``--repeat`` times, interleaved, each run on a fresh
   DuckDB file and a fresh Dagster instance, and checks that every table was
   built before it counts the run;
4. prints the table and writes ``<workdir>/results.json``;
5. with ``--concurrency K ...``, bakes the template again with
   ``warehouse=postgres``, starts a PostgreSQL server of its own on
   127.0.0.1 and times K disjoint runs started together against the same
   K runs one after another (see concurrency.py), into
   ``<workdir>/results-concurrency.json``.

Linux only: memory and CPU are read from ``/proc`` and this process makes
itself a child subreaper. See benchmarks/README.md for what each number means.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import itertools
import json
import os
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from concurrency import (
    ARRANGEMENTS,
    CHAIN_MODELS,
    MODEL_SECONDS,
    MODES,
    ROWS,
    VERIFY_ROWS,
    Batch,
    ConcurrencySummary,
    DayCounter,
    Launch,
    check_runs,
    format_summaries,
    group_of,
    materialize_command,
    row_checks,
    run_batch,
    selection,
    summarize_concurrency,
    write_models,
)
from dbt_contestants import (
    DbtEnv,
    dbt_commands,
    dbt_env,
    dbt_parse,
    generate_dbt_project,
    install_dbt,
    write_dbt_definitions,
)
from floor import FLOOR_MODULE, write_floor_definitions
from peer import PEER_MODULE, PeerEnv, install_peer, peer_env, write_peer_definitions
from postgres import PostgresServer, postgres_server
from processes import process_tree
from venvs import installed_versions
from workloads import (
    CALIBRATE,
    WORKLOADS,
    calibration_statements,
    layer_of,
    model_name,
    model_select,
    seed_csv,
)

TEMPLATE_DIR = Path(__file__).resolve().parent.parent
TEMPLATE_BIN = Path(sys.executable).parent
# Replaced by the benchmark's own models; config.py and macros/ are kept as baked.
SAMPLE_PARTS = ("models", "seeds", "tests", "audits", "external_models.yaml")
# Ours materializes the SQLMesh assets only: the sample's Python asset (ingestion.py) is not
# part of the synthetic project, nor of what bare SQLMesh does.
SQLMESH_ASSETS = "kind:sqlmesh"
# Tree RSS is sampled every RSS_INTERVAL_S and tree PSS every PSS_EVERY-th sample:
# reading PSS walks page tables, which would steal CPU from a 2-core machine.
RSS_INTERVAL_S = 0.1
PSS_EVERY = 5
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# Before each timed run, wait (up to --settle seconds) until the machine's CPUs are
# less than this busy over one second: other work on a 2-core machine skews the times.
QUIET_CPU_FRACTION = 0.15
# A run is flagged when the rest of the machine used more than this share of one CPU meanwhile.
DISTURBED_FRACTION = 0.2

# The contestants, in the order the table lists them. "Builders" build every table
# and are compared with "bare"; the two load contestants are compared with each other.
BUILDERS = (
    "bare",
    "default",
    "python-api",
    "multiprocess",
    "dagster-floor",
    "peer-cli",
    "peer-python",
    "dbt-build",
    "dagster-dbt",
)
PEERS = ("peer-cli", "peer-python")
DBT = ("dbt-build", "dagster-dbt")
# Builders that are not a Dagster run (no event log to read).
NOT_DAGSTER = ("bare", "dbt-build")
LOADERS = ("defs-load", "defs-load-cold", "bare-load")
CONTESTANTS = BUILDERS + LOADERS
BASELINE = {
    "bare": "bare",
    "default": "bare",
    "python-api": "bare",
    "multiprocess": "bare",
    "peer-cli": "bare",
    "peer-python": "bare",
    "dagster-floor": "bare",
    "dbt-build": "dbt-build",
    "dagster-dbt": "dbt-build",
    "defs-load": "bare-load",
    "defs-load-cold": "bare-load",
    "bare-load": "bare-load",
}

# The floor: what SQLMesh alone needs to build every model in a fresh process. It also prints
# when SQLMesh reported its first evaluated model (the console's per-snapshot progress call), in
# seconds since the process started (its start time in /proc, 10 ms resolution): the time
# SQLMesh needs to reach its first model (import, load, plan, the first evaluation).
BARE_PLAN = """
import json, os, sys, time
from sqlmesh import Context

def since_start():
    with open("/proc/self/stat") as stat:
        ticks = int(stat.read().rsplit(")", 1)[1].split()[19])
    return time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / os.sysconf("SC_CLK_TCK")

context = Context(paths=sys.argv[1])
evaluated = []
report = context.console.update_snapshot_evaluation_progress
def recorded(*args, **kwargs):
    evaluated.append(since_start())
    return report(*args, **kwargs)
context.console.update_snapshot_evaluation_progress = recorded
context.plan("prod", auto_apply=True, no_prompts=True)
context.close()
print(json.dumps({"first_model_s": min(evaluated, default=None), "evaluations": len(evaluated)}))
"""

# A fresh process that only parses the project, as the code location has to.
BARE_LOAD = """
import json, sys, time
start = time.perf_counter()
from sqlmesh import Context
imported = time.perf_counter()
context = Context(paths=sys.argv[1])
loaded = time.perf_counter()
print(json.dumps({"count": len(context.models), "import_s": imported - start, "load_s": loaded - imported}))
"""

# What a code server does before it serves the code location: import the module
# (which builds Definitions and loads SQLMesh) and resolve the repository.
DEFS_LOAD = """
import importlib, json, sys, time
start = time.perf_counter()
import dagster
imported = time.perf_counter()
module = importlib.import_module(sys.argv[1])
built = time.perf_counter()
dagster.Definitions.validate_loadable(module.defs)
resolved = time.perf_counter()
count = sum("sqlmesh" in spec.kinds for spec in module.defs.resolve_all_asset_specs())
print(json.dumps({"count": count, "import_dagster_s": imported - start,
                  "import_definitions_s": built - imported, "resolve_s": resolved - built}))
"""

# The same with the definitions cache empty (SQLMesh's own cache stays warm): after a change.
DEFS_LOAD_COLD = (
    "import os, shutil\n"
    "shutil.rmtree(os.path.join(os.environ['SQLMESH_PROJECT_DIR'], '.cache', 'dagster_definitions'), True)\n"
    + DEFS_LOAD
)

# When the run's assets were reported, from the Dagster instance's event log: seconds from the
# run's start to the first and the last materialization, and to the run's end.
TIMELINE = """
from dagster import DagsterEventType

def timeline(instance, run_id):
    records = instance.all_logs(run_id)
    def at(kind):
        return [r.timestamp for r in records if r.dagster_event and r.dagster_event.event_type == kind]
    (start,) = at(DagsterEventType.RUN_START)
    done = at(DagsterEventType.RUN_SUCCESS) + at(DagsterEventType.RUN_FAILURE)
    materialized = at(DagsterEventType.ASSET_MATERIALIZATION)
    steps = len(at(DagsterEventType.STEP_START))
    return {
        "materializations": len(materialized),
        "events": len(records),
        "steps": steps,
        "events_per_step": len(records) / steps if steps else None,
        "events_per_asset": len(records) / len(materialized) if materialized else None,
        "first_s": min(materialized) - start if materialized else None,
        "last_s": max(materialized) - start if materialized else None,
        "run_s": max(done) - start if done else None,
    }
"""

# The CLI contestants' timeline, read afterwards from their DAGSTER_HOME (not timed).
READ_TIMELINE = (
    TIMELINE
    + """
import json
from dagster import DagsterInstance
with DagsterInstance.get() as instance:
    print(json.dumps(timeline(instance, instance.get_runs(limit=1)[0].run_id)))
"""
)

# Ours in process, through Dagster's Python API with an ephemeral instance (no CLI, no run storage).
PYTHON_API = (
    TIMELINE
    + """
import importlib, json, sys
from dagster import AssetSelection, DagsterInstance
module = importlib.import_module(sys.argv[1])
job = module.defs.resolve_implicit_global_asset_job_def()
selected = AssetSelection.from_string(sys.argv[2]).resolve(module.defs.resolve_asset_graph())
with DagsterInstance.ephemeral() as instance:
    result = job.execute_in_process(instance=instance, raise_on_error=False, asset_selection=list(selected))
    print(json.dumps({"success": result.success, **timeline(instance, result.run_id)}))
"""
)

# The peer in process, as PYTHON_API does for ours: dagster.materialize on an ephemeral instance.
PEER_PYTHON_API = (
    TIMELINE
    + f"""
import json
from dagster import DagsterInstance, materialize
from {PEER_MODULE} import SQLMeshResource, sqlmesh_project
with DagsterInstance.ephemeral() as instance:
    result = materialize(
        [sqlmesh_project], resources={{"sqlmesh": SQLMeshResource()}}, instance=instance, raise_on_error=False
    )
    print(json.dumps({{"success": result.success, **timeline(instance, result.run_id)}}))
"""
)

# Run with the project's interpreter: which of the expected views are missing or empty.
VERIFY = """
import json, sys
import duckdb
expected = json.loads(sys.stdin.read())
connection = duckdb.connect(sys.argv[1], read_only=True)
missing, empty = [], []
for name in expected:
    try:
        (count,) = connection.execute(f"SELECT COUNT(*) FROM {name}").fetchone()
    except duckdb.Error:
        missing.append(name)
        continue
    if count == 0:
        empty.append(name)
print(json.dumps({"missing": missing, "empty": empty}))
"""


# ---------------------------------------------------------------- the baked project


@dataclass(frozen=True)
class BakedProject:
    """The template baked once, installed in its own .venv."""

    root: Path
    package: str

    @property
    def python(self) -> Path:
        return self.root / ".venv" / "bin" / "python"

    @property
    def dagster(self) -> Path:
        return self.root / ".venv" / "bin" / "dagster"


def bake(workdir: Path, warehouse: str = "duckdb") -> BakedProject:
    """Bake the starter sample on ``warehouse`` with the Cookiecutter CLI and a private config.

    A private config and TMPDIR keep the replay file and rendered hook scripts
    inside ``workdir`` instead of the user's HOME and /tmp. DuckDB's bake goes
    to ``bake/``, another warehouse's to ``bake-<warehouse>/``.
    """
    bake_dir = workdir / ("bake" if warehouse == "duckdb" else f"bake-{warehouse}")
    shutil.rmtree(bake_dir, ignore_errors=True)
    (bake_dir / "tmp").mkdir(parents=True)
    config = bake_dir / "cookiecutter-config.yaml"
    # JSON is valid YAML.
    config.write_text(
        json.dumps({"cookiecutters_dir": str(bake_dir / "clones"), "replay_dir": str(bake_dir / "replay")})
    )
    env = {**os.environ, "TMPDIR": str(bake_dir / "tmp")}
    subprocess.run(
        [
            sys.executable,
            "-m",
            "cookiecutter",
            "--no-input",
            "--config-file",
            str(config),
            "--output-dir",
            str(bake_dir),
            str(TEMPLATE_DIR),
            "sample_pipeline=starter",
            f"warehouse={warehouse}",
        ],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    (root,) = [p for p in bake_dir.iterdir() if (p / ".cookiecutter.json").exists()]
    answers = json.loads((root / ".cookiecutter.json").read_text())["cookiecutter"]
    return BakedProject(root=root, package=answers["package_name"])


def install(project: BakedProject) -> None:
    """``make install`` as a user would, with uv (next to this interpreter) on PATH."""
    env = {**os.environ, "PATH": f"{TEMPLATE_BIN}{os.pathsep}{os.environ['PATH']}"}
    subprocess.run(
        ["make", "-C", str(project.root), "install"], check=True, env=env, stdout=subprocess.DEVNULL
    )


def install_deploy_extra(project: BakedProject) -> None:
    """The project's ``deploy`` extra (dagster-postgres): the concurrency case keeps Dagster's runs in
    PostgreSQL, as a deployment's run workers do (``deploy/dagster.yaml``)."""
    env = {**os.environ, "VIRTUAL_ENV": str(project.root / ".venv")}
    subprocess.run(
        [str(TEMPLATE_BIN / "uv"), "pip", "install", "--quiet", "-e", ".[dev,deploy]"],
        cwd=project.root,
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )


def versions(project: BakedProject) -> dict[str, str]:
    """The versions the numbers were measured with."""
    code = (
        "import json, importlib.metadata as m; "
        "print(json.dumps({p: m.version(p) for p in ('dagster', 'sqlmesh', 'duckdb', 'sqlglot')}))"
    )
    output = subprocess.run([str(project.python), "-c", code], check=True, capture_output=True, text=True)
    return json.loads(output.stdout)


# ---------------------------------------------------------------- the SQLMesh project


def seed_model_sql() -> str:
    return f"""MODEL (
  name {model_name(0)},
  kind SEED (
    path '../../seeds/rows.csv'
  ),
  columns (
    id INTEGER,
    grp INTEGER,
    amount DOUBLE,
    label TEXT
  )
);
"""


def full_model_sql(index: int, workload: str) -> str:
    """A FULL model reading its parents (workloads.model_select), or the realistic workload's seed."""
    return f"""MODEL (
  name {model_name(index)},
  kind FULL
);

{model_select(index, workload, model_name)}"""


def copy_project_config(project: BakedProject, target: Path) -> None:
    """A fresh ``target`` with the baked SQLMesh project's ``config.py`` and ``macros/``, no sample models."""
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(
        project.root / "sqlmesh_project",
        target,
        ignore=shutil.ignore_patterns(*SAMPLE_PARTS, ".cache", "logs", "__pycache__"),
    )


def generate_project(project: BakedProject, target: Path, models: int, workload: str) -> list[str]:
    """Write a SQLMesh project of ``models`` models at ``target``; return the model names.

    The baked ``sqlmesh_project`` is copied without its sample folders, so the
    shipped ``config.py`` (gateway, WAREHOUSE_PATH, defaults) is what runs.
    """
    copy_project_config(project, target)
    if workload == "synthetic":
        (target / "seeds").mkdir()
        (target / "seeds" / "rows.csv").write_text(seed_csv())
    for index in range(models):
        path = target / "models" / f"layer_{layer_of(index)}" / f"model_{index}.sql"
        path.parent.mkdir(parents=True, exist_ok=True)
        synthetic_seed = index == 0 and workload == "synthetic"
        path.write_text(seed_model_sql() if synthetic_seed else full_model_sql(index, workload))
    return [model_name(index) for index in range(models)]


def calibrate(project: BakedProject, root: Path, models: int, workload: str) -> list[float]:
    """Seconds DuckDB (the project's) takes to build each model alone, in a scratch file; untimed."""
    scratch = root / "calibration.duckdb"
    scratch.unlink(missing_ok=True)
    result = subprocess.run(
        [str(project.python), "-c", CALIBRATE, str(scratch)],
        input=json.dumps(calibration_statements(models, workload)),
        capture_output=True,
        text=True,
        check=True,
    )
    scratch.unlink(missing_ok=True)
    return _last_json(result.stdout)["seconds"]


# ---------------------------------------------------------------- one measured process


@dataclass
class Measurement:
    """One timed process: wall time and memory of its whole process tree."""

    wall_s: float
    returncode: int
    tree_rss_peak_mb: float
    """Highest sum of RSS over the process and all its descendants, sampled every RSS_INTERVAL_S."""
    tree_pss_peak_mb: float
    """Same with PSS (shared pages divided among the processes sharing them: no double counting),
    sampled every RSS_INTERVAL_S * PSS_EVERY."""
    largest_process_rss_mb: float
    """Exact peak RSS of the largest single process of the tree (ru_maxrss from wait4)."""
    cpu_s: float = 0.0
    """User + system CPU of the process and all its descendants, orphans included."""
    foreign_cpu_s: float = 0.0
    """CPU the rest of the machine used meanwhile (all CPUs' busy time minus cpu_s): interference."""
    adopted_processes: int = 0
    """Orphaned descendants this process adopted and reaped after the run (see become_subreaper)."""
    lingering_processes: int = 0
    """Descendants still alive when the measured process exited (reaped, or killed after 10 s)."""
    stdout: str = ""


def _rss_kb(pid: int) -> int:
    """Resident set size from /proc/<pid>/statm: cheap enough to read often."""
    try:
        with open(f"/proc/{pid}/statm") as statm:
            return int(statm.read().split()[1]) * PAGE_KB
    except (OSError, IndexError, ValueError):
        return 0  # the process ended between listing and reading


def _pss_kb(pid: int) -> int:
    """Proportional set size from smaps_rollup (costs ~2 ms per 100 MB mapped: read it less often)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (OSError, IndexError, ValueError):
        pass
    return 0


def _machine_busy_s() -> float:
    """CPU seconds all CPUs have spent busy since boot (first line of /proc/stat)."""
    with open("/proc/stat") as stat:
        fields = [int(v) for v in stat.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


def wait_for_quiet(max_wait_s: float) -> float:
    """Wait until the machine is nearly idle for one second (at most ``max_wait_s``); return the wait.

    Other sessions, test suites or servers on the same small machine inflate
    wall times; waiting a little keeps the runs comparable, and every run
    records the foreign CPU it still saw.
    """
    start = time.perf_counter()
    while True:
        before = _machine_busy_s()
        time.sleep(1.0)
        busy = (_machine_busy_s() - before) / (os.cpu_count() or 1)
        waited = time.perf_counter() - start
        if busy < QUIET_CPU_FRACTION or waited >= max_wait_s:
            return waited


def become_subreaper() -> None:
    """Adopt orphaned descendants (Linux prctl PR_SET_CHILD_SUBREAPER).

    Helper processes whose parent exits without waiting for them would be
    re-parented to init, leave the measured tree and take their CPU time with
    them; as a subreaper this process adopts and reaps them instead.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(36, 1, 0, 0, 0) != 0:  # 36 = PR_SET_CHILD_SUBREAPER
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")


def _descendants() -> list[int]:
    """Every live process below this one: the measured tree, adopted orphans included."""
    me = os.getpid()
    return [pid for pid in process_tree(me) if pid != me]


def _reap_descendants(grace_s: float) -> list[resource.struct_rusage]:
    """Wait for every remaining descendant (killing them after ``grace_s``); return their rusage."""
    usages, deadline, killed = [], time.perf_counter() + grace_s, False
    while True:
        try:
            pid, _, usage = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            return usages  # no children left
        if pid:
            usages.append(usage)
            continue
        if not killed and time.perf_counter() > deadline:
            for descendant in _descendants():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(descendant, signal.SIGKILL)
            killed = True
        time.sleep(0.02)


def measure(
    command: list[str],
    cwd: Path,
    env: dict[str, str],
    log: Path,
    timeout_s: float = 1800,
) -> Measurement:
    """Run ``command`` to completion; time it exactly, account its CPU, sample its memory.

    The main thread blocks in ``wait4`` so the wall time ends when the process
    does (not at the next sample). CPU and the largest process's peak RSS come
    from the ``wait4`` rusage of the process and of every descendant reaped
    afterwards (see :func:`become_subreaper`). A sampler thread sums RSS and PSS
    over all descendants, which ``ru_maxrss`` cannot do.
    """
    become_subreaper()
    log.parent.mkdir(parents=True, exist_ok=True)
    peaks = {"rss": 0, "pss": 0}
    done = threading.Event()
    with open(log, "w") as log_file, open(log.with_suffix(".out"), "w+") as out:
        busy_before = _machine_busy_s()
        start = time.perf_counter()
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=log_file,
            stdin=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )

        def sample() -> None:
            count = 0
            while not done.wait(RSS_INTERVAL_S):
                tree = _descendants()
                if time.perf_counter() - start > timeout_s:
                    for pid in tree:
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(pid, signal.SIGKILL)
                    return
                peaks["rss"] = max(peaks["rss"], sum(_rss_kb(pid) for pid in tree))
                count += 1
                if count % PSS_EVERY == 0:
                    peaks["pss"] = max(peaks["pss"], sum(_pss_kb(pid) for pid in tree))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        done.set()
        sampler.join()
        lingering = len(_descendants())
        usages = [usage, *_reap_descendants(grace_s=10)]
        busy = _machine_busy_s() - busy_before
        process.returncode = os.waitstatus_to_exitcode(status)  # reaped above, not by Popen
        out.seek(0)
        stdout = out.read()
    cpu = sum(u.ru_utime + u.ru_stime for u in usages)
    return Measurement(
        wall_s=wall,
        returncode=process.returncode,
        tree_rss_peak_mb=peaks["rss"] / 1024,
        tree_pss_peak_mb=peaks["pss"] / 1024,
        largest_process_rss_mb=max(u.ru_maxrss for u in usages) / 1024,
        cpu_s=cpu,
        foreign_cpu_s=max(0.0, busy - cpu),
        adopted_processes=len(usages) - 1,
        lingering_processes=lingering,
        stdout=stdout,
    )


# ---------------------------------------------------------------- contestants and runs


@dataclass(frozen=True)
class Workspace:
    """Everything one N runs against: its SQLMesh project, warehouse and Dagster home.

    The warehouse and Dagster home keep the same paths across runs (they are
    emptied, not moved): SQLMesh's cache keys include the config's fingerprint,
    so a new path per run would turn every run into a cold one.
    """

    project: BakedProject
    root: Path
    models: list[str]
    peer: PeerEnv | None = None
    """The peer's virtual environment, when a peer contestant runs."""
    dbt: DbtEnv | None = None
    """The dbt contestants' virtual environment, when one of them runs."""

    @property
    def sqlmesh_project(self) -> Path:
        return self.root / "sqlmesh_project"

    @property
    def dbt_project(self) -> Path:
        return self.root / "dbt_project"

    @property
    def floor_dir(self) -> Path:
        """Where the dagster-floor definitions module for this N is written."""
        return self.root / "floor"

    @property
    def dbt_module_dir(self) -> Path:
        return self.root.parent / "dagster-dbt"

    def dbt_env(self) -> dict[str, str]:
        assert self.dbt is not None
        return dbt_env(self.dbt, self.env(), self.dbt_project, self.dbt_module_dir)

    @property
    def warehouse(self) -> Path:
        return self.root / "state" / "warehouse.duckdb"  # catalog "warehouse": the file's stem

    @property
    def dagster_home(self) -> Path:
        return self.root / "state" / "dagster_home"

    def reset_state(self) -> None:
        """A fresh, empty warehouse and Dagster instance; the SQLMesh .cache stays."""
        shutil.rmtree(self.root / "state", ignore_errors=True)
        self.dagster_home.mkdir(parents=True)
        shutil.copy(self.project.root / "dagster_home" / "dagster.yaml", self.dagster_home)

    def env(self, executor: str | None = None) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if key != "DAGSTER_EXECUTOR"}
        env.update(
            WAREHOUSE_PATH=str(self.warehouse),
            DAGSTER_HOME=str(self.dagster_home),
            SQLMESH_PROJECT_DIR=str(self.sqlmesh_project),
            SQLMESH__DISABLE_ANONYMIZED_ANALYTICS="true",
        )
        if executor:
            env["DAGSTER_EXECUTOR"] = executor
        return env


def command_for(contestant: str, space: Workspace) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of one contestant."""
    python, project = str(space.project.python), str(space.sqlmesh_project)
    materialize = [
        str(space.project.dagster),
        "asset",
        "materialize",
        "-m",
        f"{space.project.package}.definitions",
        "--select",
        SQLMESH_ASSETS,
    ]
    return {
        "bare": ([python, "-c", BARE_PLAN, project], space.env()),
        "default": (materialize, space.env()),
        "multiprocess": (materialize, space.env("multiprocess")),
        "python-api": (
            [python, "-c", PYTHON_API, f"{space.project.package}.definitions", SQLMESH_ASSETS],
            space.env(),
        ),
        "dagster-floor": (
            [str(space.project.dagster), "asset", "materialize", "-m", FLOOR_MODULE, "--select", "*"],
            {**space.env(), "PYTHONPATH": str(space.floor_dir)},
        ),
        **(_peer_commands(space) if space.peer else {}),
        **(
            {
                name: (line, space.dbt_env())
                for name, line in dbt_commands(space.dbt, space.dbt_project).items()
            }
            if space.dbt
            else {}
        ),
        "defs-load": ([python, "-c", DEFS_LOAD, f"{space.project.package}.definitions"], space.env()),
        "defs-load-cold": (
            [python, "-c", DEFS_LOAD_COLD, f"{space.project.package}.definitions"],
            space.env(),
        ),
        "bare-load": ([python, "-c", BARE_LOAD, project], space.env()),
    }[contestant]


def _peer_commands(space: Workspace) -> dict[str, tuple[list[str], dict[str, str]]]:
    """The peer, wired as its documentation shows, in its own venv (see peer.py)."""
    assert space.peer is not None
    env = peer_env(space.env(), space.root.parent / "peer")
    return {
        "peer-cli": (
            [str(space.peer.dagster), "asset", "materialize", "-m", PEER_MODULE, "--select", "*"],
            env,
        ),
        "peer-python": ([str(space.peer.python), "-c", PEER_PYTHON_API], env),
    }


def dagster_timeline(contestant: str, space: Workspace, measurement: Measurement) -> dict[str, object]:
    """When the run reported its assets (see TIMELINE); read after the timed process, never inside it."""
    if contestant in ("python-api", "peer-python"):
        return json.loads(measurement.stdout.strip().splitlines()[-1])
    python = space.project.python
    if contestant in PEERS and space.peer:
        python = space.peer.python
    elif contestant in DBT and space.dbt:
        python = space.dbt.python
    result = subprocess.run(
        [str(python), "-c", READ_TIMELINE],
        env=space.env(),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        return {"error": result.stderr.strip()[-500:]}
    return json.loads(result.stdout.strip().splitlines()[-1])


def verify_tables(space: Workspace) -> str | None:
    """None when every model's view has rows; otherwise why the run does not count."""
    if not space.warehouse.exists():
        return "no warehouse file"
    result = subprocess.run(
        [str(space.project.python), "-c", VERIFY, str(space.warehouse)],
        input=json.dumps(space.models),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        return f"verification failed: {result.stderr.strip()[-500:]}"
    found = json.loads(result.stdout)
    if found["missing"] or found["empty"]:
        return f"{len(found['missing'])} missing, {len(found['empty'])} empty, e.g. {(found['missing'] + found['empty'])[:3]}"
    return None


@dataclass
class Run:
    contestant: str
    repetition: int
    measurement: Measurement | None
    failure: str | None = None
    waited_for_quiet_s: float = 0.0
    detail: dict[str, object] = field(default_factory=dict)


def _last_json(stdout: str) -> dict[str, object]:
    """The last line of ``stdout`` that is a JSON object (tools may print before it)."""
    for line in reversed(stdout.strip().splitlines()):
        if line.startswith("{"):
            with contextlib.suppress(json.JSONDecodeError):
                return json.loads(line)
    return {}


def run_once(contestant: str, space: Workspace, log: Path, settle_s: float) -> Run:
    """One timed run on fresh state, checked: tables for builders, model count for loaders."""
    space.reset_state()
    command, env = command_for(contestant, space)
    waited = wait_for_quiet(settle_s) if settle_s > 0 else 0.0
    cwd = space.dbt_project if contestant in DBT else space.project.root
    measurement = measure(command, cwd, env, log)
    run = Run(contestant=contestant, repetition=-1, measurement=measurement, waited_for_quiet_s=waited)
    if measurement.returncode != 0:
        run.failure = f"exit code {measurement.returncode} (see {log})"
    elif contestant in BUILDERS:
        # The floor builds no table: its N materializations are its check.
        run.failure = None if contestant == "dagster-floor" else verify_tables(space)
        if contestant == "bare":
            run.detail = _last_json(measurement.stdout)
        elif contestant not in NOT_DAGSTER:
            run.detail = dagster_timeline(contestant, space, measurement)
            if run.failure is None and run.detail.get("materializations") != len(space.models):
                run.failure = (
                    f"{run.detail.get('materializations')} materializations, expected {len(space.models)}"
                )
    else:
        run.detail = json.loads(measurement.stdout.strip().splitlines()[-1])
        if run.detail.get("count") != len(space.models):
            run.failure = f"loaded {run.detail.get('count')} models/assets, expected {len(space.models)}"
    return run


# ---------------------------------------------------------------- statistics and report


@dataclass
class Summary:
    contestant: str
    runs: int
    failed: int
    median_s: float | None = None
    min_s: float | None = None
    max_s: float | None = None
    tree_rss_peak_mb: float | None = None
    tree_pss_peak_mb: float | None = None
    largest_process_rss_mb: float | None = None
    foreign_cpu_median_s: float | None = None
    first_materialization_s: float | None = None
    """Median seconds from the Dagster run's start to its first asset materialization."""
    last_materialization_s: float | None = None
    first_model_s: float | None = None
    """bare only: median seconds from process start to SQLMesh's report of its first evaluated model."""
    events_per_step: float | None = None
    """Dagster runs: median count of event log records of the run divided by its steps (STEP_START)."""
    events_per_asset: float | None = None
    """Dagster runs: the same records divided by the run's asset materializations."""
    disturbed: int = 0
    """Timed runs during which the rest of the machine used more than DISTURBED_FRACTION of a CPU."""
    failures: list[str] = field(default_factory=list)


def summarize(contestant: str, runs: list[Run]) -> Summary:
    """Median and range over the runs that built everything; failed runs are only counted."""
    good = [r.measurement for r in runs if r.failure is None and r.measurement]
    summary = Summary(
        contestant=contestant,
        runs=len(runs),
        failed=len(runs) - len(good),
        failures=[r.failure for r in runs if r.failure],
    )
    if good:
        walls = [m.wall_s for m in good]
        summary.median_s, summary.min_s, summary.max_s = statistics.median(walls), min(walls), max(walls)
        summary.tree_rss_peak_mb = max(m.tree_rss_peak_mb for m in good)
        summary.tree_pss_peak_mb = max(m.tree_pss_peak_mb for m in good)
        summary.largest_process_rss_mb = max(m.largest_process_rss_mb for m in good)
        summary.foreign_cpu_median_s = statistics.median(m.foreign_cpu_s for m in good)
        summary.disturbed = sum(m.foreign_cpu_s > DISTURBED_FRACTION * m.wall_s for m in good)
    firsts = [r.detail["first_s"] for r in runs if r.failure is None and r.detail.get("first_s") is not None]
    lasts = [r.detail["last_s"] for r in runs if r.failure is None and r.detail.get("last_s") is not None]
    if firsts:
        summary.first_materialization_s = statistics.median(firsts)
        summary.last_materialization_s = statistics.median(lasts)
    for name in ("first_model_s", "events_per_step", "events_per_asset"):
        values = [r.detail[name] for r in runs if r.failure is None and r.detail.get(name) is not None]
        if values:
            setattr(summary, name, statistics.median(values))
    return summary


def ratio(summaries: dict[str, Summary], contestant: str) -> float | None:
    base = summaries.get(BASELINE[contestant])
    mine = summaries[contestant]
    if base is None or base.median_s is None or mine.median_s is None:
        return None
    return mine.median_s / base.median_s


def format_table(models: int, summaries: dict[str, Summary], notes: list[str]) -> str:
    header = (
        f"{'contestant':<13} {'median':>8} {'min-max':>15} {'ratio':>16} "
        f"{'tree RSS':>9} {'tree PSS':>9} {'largest':>8} {'other CPU':>10} {'first/last asset':>17} "
        f"{'events/step':>11} {'events/asset':>12}"
    )
    lines = [f"N = {models} models", header, "-" * len(header)]
    for contestant, s in summaries.items():
        if s.median_s is None:
            lines.append(f"{contestant:<13} FAILED {s.failed}/{s.runs}: {s.failures[0]}")
            continue
        r = ratio(summaries, contestant)
        ratio_text = "-" if r is None else f"{r:.2f}x {BASELINE[contestant]}"
        flags = [f"{s.failed}/{s.runs} FAILED, not timed"] if s.failed else []
        flags += [f"{s.disturbed} disturbed"] if s.disturbed else []
        lines.append(
            f"{contestant:<13} {s.median_s:>7.2f}s {s.min_s:>6.2f}-{s.max_s:>6.2f}s {ratio_text:>16} "
            f"{s.tree_rss_peak_mb:>7.0f}MB {s.tree_pss_peak_mb:>7.0f}MB {s.largest_process_rss_mb:>6.0f}MB "
            f"{s.foreign_cpu_median_s:>9.1f}s {_first_last(s):>17} "
            f"{_number(s.events_per_step):>11} {_number(s.events_per_asset):>12}"
            + (f"  ({', '.join(flags)})" if flags else "")
        )
    lines += [f"  note: {note}" for note in notes]
    return "\n".join(lines)


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _first_last(summary: Summary) -> str:
    if summary.first_materialization_s is None:
        return "-"
    return f"{summary.first_materialization_s:.2f}s/{summary.last_materialization_s:.2f}s"


# The targets of issue #25: how far ours is from the anchors, at each N.
ANCHOR_TOLERANCE = 1.10


def targets(summaries: dict[str, Summary], workload: str) -> list[dict[str, object]]:
    """Each target the contestants that ran allow to check: the numbers, and whether it is met.

    - ``anchor``: ours through the CLI (``default``) against
      max(bare, dagster-floor + SQLMesh's time to its first model), where the
      latter is bare's median ``first_model_s`` (process start to SQLMesh's
      report of its first evaluated model, see BARE_PLAN): Dagster's own cost
      per step, plus what SQLMesh needs before it can build anything, or SQLMesh
      alone, whichever is longer. Met within ANCHOR_TOLERANCE.
    - ``realistic``: on the realistic workload, ``default`` within ANCHOR_TOLERANCE of bare.
    - ``ratio-vs-dagster-dbt``: default / bare below dagster-dbt / dbt-build.
    - ``peer-cli``, ``peer-python``: ours faster than the peer on each path.
    """

    def median(name: str) -> float | None:
        summary = summaries.get(name)
        return summary.median_s if summary else None

    rows: list[dict[str, object]] = []
    default, bare, floor = median("default"), median("bare"), median("dagster-floor")
    first = summaries["bare"].first_model_s if "bare" in summaries else None
    if default and bare and floor and first is not None:
        anchor = max(bare, floor + first)
        rows.append(
            {
                "target": "anchor",
                "text": f"default {default:.2f}s vs max(bare {bare:.2f}s, dagster-floor {floor:.2f}s + "
                f"SQLMesh to first model {first:.2f}s) = {anchor:.2f}s",
                "ratio": default / anchor,
                "limit": ANCHOR_TOLERANCE,
                "met": default / anchor <= ANCHOR_TOLERANCE,
            }
        )
    if workload == "realistic" and default and bare:
        rows.append(
            {
                "target": "realistic",
                "text": f"default {default:.2f}s vs bare {bare:.2f}s",
                "ratio": default / bare,
                "limit": ANCHOR_TOLERANCE,
                "met": default / bare <= ANCHOR_TOLERANCE,
            }
        )
    dagster_dbt, dbt_build = median("dagster-dbt"), median("dbt-build")
    if default and bare and dagster_dbt and dbt_build:
        ours, theirs = default / bare, dagster_dbt / dbt_build
        rows.append(
            {
                "target": "ratio-vs-dagster-dbt",
                "text": f"default/bare {ours:.2f}x vs dagster-dbt/dbt-build {theirs:.2f}x",
                "ratio": ours / theirs,
                "limit": 1.0,
                "met": ours < theirs,
            }
        )
    for mine, peer in (("default", "peer-cli"), ("python-api", "peer-python")):
        a, b = median(mine), median(peer)
        if a and b:
            rows.append(
                {
                    "target": peer,
                    "text": f"{mine} {a:.2f}s vs {peer} {b:.2f}s",
                    "ratio": a / b,
                    "limit": 1.0,
                    "met": a < b,
                }
            )
    return rows


def format_targets(rows: list[dict[str, object]]) -> str:
    if not rows:
        return "  targets: not enough contestants ran to check any"
    return "\n".join(
        f"  target {row['target']:<21} {row['ratio']:.2f} (limit {row['limit']:.2f}) "
        f"{'met' if row['met'] else 'MISSED'}: {row['text']}"
        for row in rows
    )


def marginal_costs(results: dict[int, dict[str, Summary]], pairs: list[tuple[int, int]]) -> list[dict]:
    """Seconds per extra model between two sizes, per builder, and each builder's ratio to bare's."""
    rows = []
    for low, high in pairs:
        per_model: dict[str, float] = {}
        for contestant in BUILDERS:
            a, b = results[low].get(contestant), results[high].get(contestant)
            if a and b and a.median_s is not None and b.median_s is not None:
                per_model[contestant] = (b.median_s - a.median_s) / (high - low)
        for contestant, cost in per_model.items():
            bare = per_model.get("bare")
            rows.append(
                {
                    "from": low,
                    "to": high,
                    "contestant": contestant,
                    "ms_per_model": cost * 1000,
                    "ratio_to_bare": cost / bare if bare else None,
                }
            )
    return rows


def format_marginal(rows: list[dict]) -> str:
    lines = ["Cost per extra model (difference of medians / difference of N)"]
    for row in rows:
        r = row["ratio_to_bare"]
        lines.append(
            f"  N {row['from']:>4} -> {row['to']:<4} {row['contestant']:<13} "
            f"{row['ms_per_model']:>7.1f} ms/model" + ("" if r is None else f"   {r:.2f}x bare")
        )
    return "\n".join(lines)


# ---------------------------------------------------------------- the concurrency case

WAREHOUSE_DB = "warehouse"
DAGSTER_DB = "dagster"


@dataclass(frozen=True)
class ConcurrencySpace:
    """What the concurrency case runs against, under ``<workdir>/concurrency``.

    SQLMesh's warehouse and state are one PostgreSQL database, as the baked
    ``config.py`` keeps them; Dagster's runs and events are in another of the
    same server, through the project's ``deploy/dagster.yaml``: k processes
    record runs at once, as a deployment's run workers do.
    """

    project: BakedProject
    root: Path
    server: PostgresServer

    @property
    def sqlmesh_project(self) -> Path:
        return self.root / "sqlmesh_project"

    @property
    def dagster_home(self) -> Path:
        return self.root / "dagster_home"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def prepare(self, modes: list[str], chains: int) -> None:
        """The chains' SQLMesh project beside the baked config, and a Dagster home with the deployment's config."""
        copy_project_config(self.project, self.sqlmesh_project)
        write_models(self.sqlmesh_project / "models", modes, chains)
        shutil.rmtree(self.dagster_home, ignore_errors=True)
        shutil.rmtree(self.logs, ignore_errors=True)
        self.dagster_home.mkdir(parents=True)
        shutil.copy(self.project.root / "deploy" / "dagster.yaml", self.dagster_home)

    def env(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if key != "DAGSTER_EXECUTOR"}
        env.update(
            DAGSTER_HOME=str(self.dagster_home),
            SQLMESH_PROJECT_DIR=str(self.sqlmesh_project),
            SQLMESH__DISABLE_ANONYMIZED_ANALYTICS="true",
            **self.server.env(WAREHOUSE_DB),
            **self.server.dagster_env(DAGSTER_DB),
        )
        return env

    def launch(self, mode: str, chains: range, day: date | None, log: Path) -> Launch:
        """One run materializing ``chains`` (a day of them in partition mode, a restatement otherwise)."""
        command = materialize_command(
            self.project.dagster, self.project.package, mode, selection(mode, chains), day
        )
        groups = " ".join(group_of(mode, chain) for chain in chains)
        return Launch(group=groups, command=command, log=log, expected=len(chains) * CHAIN_MODELS)

    def missing_rows(self, checks: list[tuple[str, str | None]]) -> str | None:
        """None when every table has rows (for its day); otherwise which do not."""
        result = subprocess.run(
            [str(self.project.python), "-c", VERIFY_ROWS],
            input=json.dumps(checks),
            env=self.env(),
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            return f"verification failed: {result.stderr.strip()[-500:]}"
        empty = _last_json(result.stdout).get("empty", [])
        return f"{len(empty)} of {len(checks)} tables without rows, e.g. {empty[:2]}" if empty else None


def start_date(project: BakedProject) -> date:
    """The bake's ``start_date``: the first day of the partitioned models' grid."""
    answers = json.loads((project.root / ".cookiecutter.json").read_text())["cookiecutter"]
    return date.fromisoformat(answers["start_date"])


def deploy_chains(
    space: ConcurrencySpace, modes: list[str], chains: int, day: date, say: Callable[[str], None]
) -> None:
    """One untimed run of every chain per mode: applies the plan that creates them (and fills ``day``).

    After it, nothing in the project differs from what the state has deployed,
    so the timed runs plan nothing of their own (a restatement is a plan of
    its own, on purpose). It also fills SQLMesh's and the definitions' caches.
    """
    for mode in modes:
        every = range(1, chains + 1)
        launch = space.launch(
            mode, every, day if mode == "partition" else None, space.logs / f"deploy-{mode}.log"
        )
        wall, runs = run_batch([launch], together=False, cwd=space.project.root, env=space.env())
        check_runs(space.project.python, space.env(), runs)
        (outcome,) = runs
        if outcome.failure:
            raise RuntimeError(f"the deployment of the {mode} chains failed: {outcome.failure}")
        missing = space.missing_rows(row_checks(mode, every, day if mode == "partition" else None))
        if missing:
            raise RuntimeError(f"the deployment of the {mode} chains wrote no rows: {missing}")
        say(f"concurrency: deployed {chains} {mode} chain(s) in {wall:.1f}s")


def concurrency_batch(
    space: ConcurrencySpace,
    mode: str,
    k: int,
    arrangement: str,
    round_: int,
    day: date | None,
    settle_s: float,
) -> Batch:
    """k runs, one per chain, together or one after another; timed, then checked, and their waits read,
    in Dagster's instance and the warehouse.

    The CPU the rest of the machine used meanwhile is every CPU's busy time
    minus the runs' own (``wait4``) and the PostgreSQL server's.
    """
    waited = wait_for_quiet(settle_s) if settle_s > 0 else 0.0
    tag = "together" if arrangement == "together" else "apart"
    launches = [
        space.launch(
            mode, range(chain, chain + 1), day, space.logs / f"{mode}-k{k}-{tag}-r{round_}-{chain}.log"
        )
        for chain in range(1, k + 1)
    ]
    busy_before, server_before = _machine_busy_s(), space.server.cpu_s()
    wall, runs = run_batch(launches, arrangement == "together", space.project.root, space.env())
    server_cpu = space.server.cpu_s() - server_before
    busy = _machine_busy_s() - busy_before
    check_runs(space.project.python, space.env(), runs)  # untimed
    batch = Batch(
        mode=mode,
        k=k,
        arrangement=arrangement,
        round=round_,
        day=day.isoformat() if day else None,
        wall_s=wall,
        runs=runs,
        waited_for_quiet_s=waited,
        server_cpu_s=server_cpu,
    )
    batch.foreign_cpu_s = max(0.0, busy - batch.cpu_s - server_cpu)
    batch.failure = next((run.failure for run in runs if run.failure), None) or space.missing_rows(
        row_checks(mode, range(1, k + 1), day)
    )
    return batch


def describe_batch(batch: Batch, rounds: int) -> str:
    """One progress line: the batch's wall time, each run's, and the waits they logged."""
    runs = ", ".join(
        f"{run.wall_s:.1f}s" + (f" (waited {run.waited_s:.1f}s)" if run.waits else "") for run in batch.runs
    )
    return (
        f"concurrency round {batch.round + 1}/{rounds} {batch.mode:<9} k={batch.k} {batch.arrangement:<17} "
        f"{batch.wall_s:6.1f}s  runs: {runs}  (other CPU {batch.foreign_cpu_s:.1f}s)"
        + (f"  FAILED: {batch.failure}" if batch.failure else "")
    )


def benchmark_concurrency(
    args: argparse.Namespace, workdir: Path, revision: str, say: Callable[[str], None]
) -> None:
    """The concurrency case (``--concurrency``): bake on PostgreSQL, deploy, then ``--repeat`` rounds.

    Every round runs, for each mode and k, the k runs together and one after
    another, in an order that alternates between rounds. Each batch of the
    partition mode gets a day of its own, so every run has one interval per
    model to fill. ``results-concurrency.json`` is rewritten after every round.
    """
    output = workdir / "results-concurrency.json"
    say(f"Baking template {revision} with warehouse=postgres into {workdir / 'bake-postgres'} ...")
    project = bake(workdir, "postgres")
    install(project)
    install_deploy_extra(project)
    chains = max(args.concurrency)
    root = workdir / "concurrency"
    with postgres_server(root / "postgres.log", [WAREHOUSE_DB, DAGSTER_DB]) as server:
        space = ConcurrencySpace(project=project, root=root, server=server)
        meta = {
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
            "template": revision,
            "argv": sys.argv[1:],
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "versions": installed_versions(
                project.python, ["dagster", "dagster-postgres", "sqlmesh", "sqlglot", "psycopg2-binary"]
            ),
            "postgresql": server.version(),
            "workload": f"k chains of {CHAIN_MODELS} models, each waiting {MODEL_SECONDS} s in PostgreSQL "
            f"(pg_sleep) and writing {ROWS} rows",
            "settle": f"waited up to {args.settle}s before each batch for < {QUIET_CPU_FRACTION:.0%} CPU use",
            "foreign_cpu_s": "CPU seconds the rest of the machine used during a batch (not the runs', "
            "not the PostgreSQL server's)",
        }
        say(f"concurrency: {meta['versions']}, {meta['postgresql']}, server on 127.0.0.1:{server.port}")
        space.prepare(args.concurrency_modes, chains)
        days = DayCounter(start_date(project))
        deploy_chains(space, args.concurrency_modes, chains, days.take(), say)
        batches: list[Batch] = []
        for round_ in range(args.repeat):
            arrangements = ARRANGEMENTS if round_ % 2 == 0 else ARRANGEMENTS[::-1]
            for mode, k, arrangement in itertools.product(
                args.concurrency_modes, args.concurrency, arrangements
            ):
                day = days.take() if mode == "partition" else None
                batch = concurrency_batch(space, mode, k, arrangement, round_, day, args.settle)
                batches.append(batch)
                say(describe_batch(batch, args.repeat))
            summaries = [
                summarize_concurrency(batches, mode, k, os.cpu_count() or 1, DISTURBED_FRACTION)
                for mode, k in itertools.product(args.concurrency_modes, args.concurrency)
            ]
            write_concurrency_results(output, meta, batches, summaries)
    print(
        f"\nConcurrency on PostgreSQL state, template {revision}: k disjoint runs of `dagster asset materialize`, "
        f"each a chain of {CHAIN_MODELS} models waiting {MODEL_SECONDS:g} s each in PostgreSQL; started together "
        f"against one after another, {args.repeat} round(s); {os.cpu_count()} CPUs; {meta['versions']}; "
        f"{meta['postgresql']}"
    )
    print(
        "together, one after another: median wall time of the batch (min-max). ratio: together / one after "
        "another (1/k: perfect overlap; 1: none).\nCPU floor: the runs' CPU time / the CPUs, median over the "
        "together batches: no batch can be shorter. waits: runs that logged 'SQLMesh: waited', and the seconds.\n"
    )
    print(format_summaries(summaries))
    print(f"\nResults: {output}")


def write_concurrency_results(
    path: Path, meta: dict[str, object], batches: list[Batch], summaries: list[ConcurrencySummary]
) -> None:
    path.write_text(
        json.dumps(
            {
                "meta": meta,
                "summaries": [{**asdict(s), "ratio": s.ratio} for s in summaries],
                "batches": [asdict(b) for b in batches],
            },
            indent=1,
            default=str,
        )
    )


# ---------------------------------------------------------------- main


def contestants_for(models: int, chosen: list[str], multiprocess_max: int) -> tuple[list[str], list[str]]:
    """The contestants run at this N, and a note for any skipped."""
    notes = []
    names = [c for c in CONTESTANTS if c in chosen]
    if "multiprocess" in names and models > multiprocess_max:
        names.remove("multiprocess")
        notes.append(f"multiprocess skipped above N={multiprocess_max} (--multiprocess-max)")
    return names, notes


def benchmark_size(
    project: BakedProject,
    workdir: Path,
    models: int,
    contestants: list[str],
    repeat: int,
    settle_s: float,
    say: Callable[[str], None],
    peer: PeerEnv | None = None,
    dbt: DbtEnv | None = None,
    workload: str = "synthetic",
) -> tuple[dict[str, list[Run]], dict[str, object]]:
    """All runs for one N: untimed setup and warm-up, then ``repeat`` interleaved rounds.

    The warm-up (a default-executor run) fills SQLMesh's .cache and the OS file
    cache, so every timed run is warm, as a user's second run is; with a dbt
    contestant, ``dbt parse`` writes the manifest and one untimed ``dbt build``
    warms dbt the same way. The order of contestants rotates every round so
    none always runs first or last. Returns the runs and what the setup
    measured (the realistic workload's per-model DuckDB seconds).
    """
    root = workdir / (f"n{models}" if workload == "synthetic" else f"{workload}-n{models}")
    names = generate_project(project, root / "sqlmesh_project", models, workload)
    space = Workspace(project=project, root=root, models=names, peer=peer, dbt=dbt)
    write_floor_definitions(space.floor_dir, models)
    setup: dict[str, object] = {}
    if workload == "realistic":
        seconds = calibrate(project, root, models, workload)
        setup["model_seconds"] = seconds
        say(
            f"N={models}: each model alone in DuckDB: min {min(seconds):.2f}s, median "
            f"{statistics.median(seconds):.2f}s, max {max(seconds):.2f}s (the seed model {seconds[0]:.2f}s)"
        )
    logs = space.root / "logs"
    warm_ups = ["default"]
    if dbt and set(DBT) & set(contestants):
        generate_dbt_project(space.dbt_project, models, workload)
        space.reset_state()
        dbt_parse(dbt, space.dbt_env(), space.dbt_project)
        warm_ups.append("dbt-build")
    for contestant in warm_ups:
        warm_up = run_once(contestant, space, logs / f"warm-up-{contestant}.log", settle_s=0)
        say(
            f"N={models}: warm-up {contestant} {warm_up.measurement.wall_s:.1f}s"
            + (f" FAILED: {warm_up.failure}" if warm_up.failure else "")
        )
    runs: dict[str, list[Run]] = {c: [] for c in contestants}
    for repetition in range(repeat):
        shift = repetition % len(contestants)
        for contestant in contestants[shift:] + contestants[:shift]:
            run = run_once(contestant, space, logs / f"{contestant}-{repetition}.log", settle_s)
            run.repetition = repetition
            runs[contestant].append(run)
            m = run.measurement
            say(
                f"N={models} round {repetition + 1}/{repeat} {contestant:<13} {m.wall_s:7.2f}s"
                f"  (waited {run.waited_for_quiet_s:.0f}s for quiet; other CPU {m.foreign_cpu_s:.1f}s)"
                + (f"  FAILED: {run.failure}" if run.failure else "")
            )
    return runs, setup


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--models",
        type=int,
        nargs="*",
        default=[10, 50, 100, 200],
        help="project sizes N (models, the seed included); default 10 50 100 200; "
        "none (--models alone) runs only the concurrency case",
    )
    parser.add_argument(
        "--workload",
        choices=WORKLOADS,
        default="synthetic",
        help="synthetic (default): a 1000-row seed and cheap joins, the tools' overhead; realistic: "
        "a generated million-row seed and models that each take DuckDB a few tenths of a second",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="timed runs per contestant and N, and rounds of the concurrency case (default 3)",
    )
    parser.add_argument(
        "--contestants",
        nargs="+",
        choices=CONTESTANTS,
        default=list(CONTESTANTS),
        help="which contestants to run (default all)",
    )
    parser.add_argument(
        "--multiprocess-max",
        type=int,
        default=100,
        help="skip the multiprocess executor above this N (default 100; every step is a process of its own)",
    )
    parser.add_argument(
        "--marginal",
        type=int,
        nargs=2,
        default=[50, 200],
        metavar=("LOW", "HIGH"),
        help="sizes between which to report the cost per extra model (default 50 200)",
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=60,
        help="before each timed run, wait up to this many seconds for the machine to be "
        "nearly idle (default 60; 0 disables)",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=TEMPLATE_DIR / "build" / "bench",
        help="where the bake, projects, logs and results.json go (default build/bench)",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        nargs="+",
        default=[],
        metavar="K",
        help="also run the concurrency case on a PostgreSQL server of its own: K disjoint runs started "
        "together against the same K runs one after another, for each K (e.g. 2 4); off by default",
    )
    parser.add_argument(
        "--concurrency-modes",
        nargs="+",
        choices=MODES,
        default=["partition"],
        help="what the concurrency case's runs do: partition (a new day of partitioned models, no plan; "
        "the default) and/or restate (a restatement of unpartitioned models, which is a plan)",
    )
    args = parser.parse_args(argv)
    if any(n < 1 for n in args.models) or args.repeat < 1:
        parser.error("--models and --repeat must be positive")
    if any(k < 2 for k in args.concurrency):
        parser.error("--concurrency takes numbers of runs of 2 or more")
    if not args.models and not args.concurrency:
        parser.error("nothing to run: give --models sizes or --concurrency K")
    args.models = sorted(set(args.models))
    args.concurrency = sorted(set(args.concurrency))
    args.concurrency_modes = list(dict.fromkeys(args.concurrency_modes))
    return args


def template_revision() -> str:
    """The template commit that was baked, marked dirty when files outside benchmarks/ differ from it."""

    def git(*args: str) -> str:
        result = subprocess.run(
            ["git", "-C", str(TEMPLATE_DIR), *args], capture_output=True, text=True, check=False
        )
        return result.stdout.strip() if result.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    changed = [line for line in git("status", "--porcelain").splitlines() if "benchmarks/" not in line]
    return f"{commit}{' + uncommitted changes' if changed else ''}"


def run_metadata(project: BakedProject, args: argparse.Namespace, revision: str) -> dict[str, object]:
    """What a reader of results.json needs to judge the numbers."""
    return {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "template": revision,
        "argv": sys.argv[1:],
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": versions(project),
        "workload": args.workload,
        "first_model_s": "bare: seconds from process start to SQLMesh's report of its first evaluated "
        "model (the anchor's 'SQLMesh's time to its first model')",
        "events_per_step": "Dagster runs: event log records of the run / its STEP_START events",
        "cache": "warm: one untimed default run per N fills SQLMesh's .cache, kept between runs",
        "settle": f"waited up to {args.settle}s before each run for < {QUIET_CPU_FRACTION:.0%} CPU use",
        "memory": {
            "tree_rss_peak_mb": f"peak sum of RSS over the process tree, sampled every {RSS_INTERVAL_S}s",
            "tree_pss_peak_mb": f"peak sum of PSS over the tree, sampled every {RSS_INTERVAL_S * PSS_EVERY}s",
            "largest_process_rss_mb": "exact ru_maxrss of the largest single process (wait4)",
        },
        "foreign_cpu_s": "CPU seconds the rest of the machine used during the run",
    }


def write_results(
    path: Path,
    meta: dict[str, object],
    raw: dict[int, dict[str, list[Run]]],
    results: dict[int, dict[str, Summary]],
    notes: dict[int, list[str]],
    marginal: list[dict],
    setups: dict[int, dict[str, object]],
    checked: dict[int, list[dict[str, object]]],
) -> None:
    """Everything measured so far (rewritten after each N, so an interrupted run keeps its data)."""
    path.write_text(
        json.dumps(
            {
                "meta": meta,
                "sizes": {
                    str(n): {
                        "notes": notes[n],
                        "setup": setups.get(n, {}),
                        "targets": checked.get(n, []),
                        "summary": {c: asdict(s) for c, s in results[n].items()},
                        "runs": {c: [asdict(r) for r in runs] for c, runs in raw[n].items()},
                    }
                    for n in results
                },
                "marginal": marginal,
            },
            indent=1,
            default=str,
        )
    )


def marginal_pairs(sizes: list[int], requested: tuple[int, int]) -> list[tuple[int, int]]:
    """Consecutive sizes, plus the requested pair when both were run."""
    pairs = list(itertools.pairwise(sizes))
    if requested[0] in sizes and requested[1] in sizes and requested not in pairs:
        pairs.append(requested)
    return pairs


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir: Path = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)

    def say(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    revision = template_revision()  # read before baking: the bake is what this revision produces
    if args.models:
        benchmark_sizes(args, workdir, revision, say)
    if args.concurrency:
        # After the sizes: its PostgreSQL server is a child of this process, which measure() would
        # take for a leftover of a measured run (see postgres.py).
        benchmark_concurrency(args, workdir, revision, say)
    return 0


def benchmark_sizes(
    args: argparse.Namespace, workdir: Path, revision: str, say: Callable[[str], None]
) -> None:
    """Every contestant at every N (``--models``): the tables, the targets, ``results.json``."""
    output = workdir / ("results.json" if args.workload == "synthetic" else f"results-{args.workload}.json")
    say(f"Baking template {revision} and installing it into {workdir / 'bake'} ...")
    project = bake(workdir)
    install(project)
    meta = run_metadata(project, args, revision)
    say(f"versions: {meta['versions']}")
    peer = None
    if set(PEERS) & set(args.contestants):
        say(f"Installing the peer into {workdir / 'peer-venv'} ...")
        # Same DuckDB as ours: the same engine, and a file format the verification can read.
        peer = install_peer(workdir, TEMPLATE_BIN / "uv", duckdb_version=meta["versions"]["duckdb"])
        write_peer_definitions(workdir / "peer")
        meta["peer_versions"] = peer.versions
        say(f"peer versions: {peer.versions}")
    dbt = None
    if set(DBT) & set(args.contestants):
        say(f"Installing dbt-duckdb and dagster-dbt into {workdir / 'dbt-venv'} ...")
        dbt = install_dbt(workdir, TEMPLATE_BIN / "uv", duckdb_version=meta["versions"]["duckdb"])
        write_dbt_definitions(workdir / "dagster-dbt")
        meta["dbt_versions"] = dbt.versions
        say(f"dbt versions: {dbt.versions}")

    results: dict[int, dict[str, Summary]] = {}
    raw: dict[int, dict[str, list[Run]]] = {}
    notes: dict[int, list[str]] = {}
    marginal: list[dict] = []
    setups: dict[int, dict[str, object]] = {}
    checked: dict[int, list[dict[str, object]]] = {}
    for models in args.models:
        contestants, notes[models] = contestants_for(models, args.contestants, args.multiprocess_max)
        raw[models], setups[models] = benchmark_size(
            project, workdir, models, contestants, args.repeat, args.settle, say, peer, dbt, args.workload
        )
        results[models] = {c: summarize(c, runs) for c, runs in raw[models].items()}
        checked[models] = targets(results[models], args.workload)
        marginal = marginal_costs(results, marginal_pairs(list(results), tuple(args.marginal)))
        write_results(output, meta, raw, results, notes, marginal, setups, checked)

    print(
        f"\nTemplate {revision}; {args.workload} workload; wall time (warm SQLMesh cache, fresh warehouse and Dagster instance per "
        f"run), {args.repeat} run(s) each; {os.cpu_count()} CPUs; {meta['versions']}"
    )
    print(
        "ratio: median / the named baseline's median at the same N. Memory: peak over the runs of the "
        "process tree (sum of RSS, sum of PSS) and of its largest process.\nother CPU: median CPU "
        "seconds used by the rest of the machine during a run; 'disturbed': runs where that exceeded "
        f"{DISTURBED_FRACTION:.0%} of one CPU.\n"
    )
    if dbt:
        print(f"dbt contestants: {dbt.versions}")
    if peer:
        print(f"peer: {peer.versions}")
    print(
        "events/step, events/asset: median event log records of a Dagster run per step and per "
        "materialization.\nSQLMesh to first model: bare's median seconds from process start to "
        "SQLMesh's first evaluated model.\n"
    )
    for models in args.models:
        print(format_table(models, results[models], notes[models]))
        bare = results[models].get("bare")
        if bare and bare.first_model_s is not None:
            print(f"  SQLMesh to first model (bare): {bare.first_model_s:.2f}s")
        seconds = setups[models].get("model_seconds")
        if seconds:
            print(
                f"  each model alone in DuckDB (untimed setup): min {min(seconds):.2f}s, median "
                f"{statistics.median(seconds):.2f}s, max {max(seconds):.2f}s"
            )
        print(format_targets(checked[models]) + "\n")
    print(format_marginal(marginal))
    print(f"\nResults: {output}")


if __name__ == "__main__":
    sys.exit(main())
