"""Runs started together on one SQLMesh state: they coordinate instead of failing or doing work twice.

Real runs of baked projects, started at the same moment as separate
processes (two terminals, two launches), against a real DuckDB file and a
real PostgreSQL server. No Dagster run queue is involved: `make run` never
goes through it, and the shipped instance has no run limit.
"""

import itertools
import json
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from helpers.concurrency import (
    create_instance,
    overlapping_evaluations,
    run_id_of,
    start_make_run,
    start_probe,
    waited_for,
)
from helpers.dagster_dev import LAUNCH, free_port, graphql, in_session, serving
from helpers.demo_outcomes import evaluated
from helpers.project import IN_PROJECT, probe
from helpers.project import run as run_command
from helpers.real_partitioned_project import BACKFILL, BACKFILL_STATUS
from helpers.sample_expectations import ALL_MODELS_STARTER, PAGES_PER_DAY, PYTHON_ASSETS

pytestmark = pytest.mark.e2e

SLOW_MODELS = Path(__file__).parent / "sqlmesh_projects" / "slow_models"
EVERY_UNPARTITIONED_STARTER_ASSET = sorted(
    {name.replace(".", "/") for name in ALL_MODELS_STARTER} | PYTHON_ASSETS
)


def test_two_make_runs_at_once_on_duckdb_both_succeed_and_evaluate_nothing_twice(starter_project, tmp_path):
    scratch = starter_project.scratch(tmp_path)
    env = scratch.env()
    create_instance(scratch)
    first, second = start_make_run(starter_project.root, env), start_make_run(starter_project.root, env)
    outputs = [process.communicate(timeout=600)[0] for process in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], outputs[0][-3000:] + outputs[1][-3000:]

    runs = [
        probe(starter_project.root, starter_project.package, env, "--summarize", run_id_of(output))
        for output in outputs
    ]
    for run in runs:
        assert run["status"] == "SUCCESS" and run["executions"] == 1 and run["lock_errors"] == 0
    # Every model evaluated once, by one run or the other.
    assert not set(evaluated(runs[0])) & set(evaluated(runs[1])), runs
    assert set(evaluated(runs[0])) | set(evaluated(runs[1])) == ALL_MODELS_STARTER
    assert all(count == 1 for run in runs for count in run["evaluated"].values())
    # Whichever of a run's steps met the other run at the file (its ingestion asset or its SQLMesh
    # execution) waited for it, said so, and names that run; so do the models of an execution that
    # waited.
    waits = [[line for line in output.splitlines() if WAITING_FOR_THE_FILE in line] for output in outputs]
    assert any(waits), "neither run waited for the other: they did not meet at the file"
    for waited_lines, run, other in ((waits[0], runs[0], runs[1]), (waits[1], runs[1], runs[0])):
        assert all(f"held by Dagster run {other['run_id']}" in line for line in waited_lines), waited_lines
        assert all(other["run_id"] in text for text in waited_for(run).values()), waited_for(run)
    print(
        "waits:",
        [line.split(" - ")[-1] for out in outputs for line in out.splitlines() if "SQLMesh: waited " in line],
    )


WAITING_FOR_THE_FILE = "SQLMesh: waiting for the DuckDB file"


def test_postgresql_locks_are_released_when_their_holder_is_killed_and_taken_in_order(
    postgres, postgres_project, tmp_path
):
    """The advisory locks alone, against the real server (in_project/advisory_locks.py says how)."""
    scratch = postgres_project.scratch(tmp_path)
    scratch.postgres = postgres.recreate("advisory_locks")
    script = IN_PROJECT / "advisory_locks.py"
    found = json.loads(
        run_command(
            [str(postgres_project.python), str(script), "shop_analytics"],
            postgres_project.root,
            scratch.env(),
        ).stdout
    )
    killed = found["killed"]
    print(f"model, plan and state locks taken {killed['seconds_after_kill']} s after SIGKILL of their holder")
    assert killed["holder_exit"] == -signal.SIGKILL
    # Bounded at 30 s: a lock that outlived its holder fails the wait with LockWaitTimeout instead.
    assert killed["waited_for"] == {"m": ["run-that-holds", killed["holder_pid"]]}
    assert killed["lines"][0].startswith(
        f"SQLMesh: waiting for model m, held by Dagster run run-that-holds (pid {killed['holder_pid']} on "
    )
    in_order = found["in_order"]
    # Waiting for m2, the second run holds m1 (before it) and not m3 (after it): one lock each.
    assert in_order["while_waiting"] == ["sqlmesh-lock r=run-a", "sqlmesh-lock r=run-b"]
    assert in_order["held"] == {"waited_for": ["m2"], "granted": ["sqlmesh-lock r=run-b"] * 3}
    assert in_order["after"] == []
    assert found["keepalive"] == {
        "tcp_keepalives_idle": "5",
        "tcp_keepalives_interval": "5",
        "tcp_keepalives_count": "3",
    }


def test_two_runs_of_every_unpartitioned_asset_at_once_on_postgresql(postgres, postgres_project, tmp_path):
    """No ConflictingPlanError, no model evaluated by both: plans one at a time, each model once."""
    scratch = postgres_project.scratch(tmp_path)
    scratch.postgres = postgres.recreate("concurrent_whole")
    create_instance(scratch)
    select = ",".join(EVERY_UNPARTITIONED_STARTER_ASSET)
    started = [start_probe(scratch, "--select", select) for _ in range(2)]
    runs = [run.result() for run in started]

    for run in runs:
        assert run["status"] == "SUCCESS", run["failures"]
        assert run["executions"] == 1
        assert not any("ConflictingPlanError" in text for text in [*run["errors"], *run["failures"].values()])
    assert not set(evaluated(runs[0])) & set(evaluated(runs[1])), runs
    assert set(evaluated(runs[0])) | set(evaluated(runs[1])) == ALL_MODELS_STARTER
    # The run that found the models taken waited for them, and its assets name the run it waited for.
    waiters = [(run, other) for run, other in (runs, runs[::-1]) if waited_for(run)]
    assert len(waiters) == 1, [waited_for(run) for run in runs]
    waiter, holder = waiters[0]
    assert all(holder["run_id"] in text for text in waited_for(waiter).values())
    # The incremental model holds each order once.
    assert scratch.query("SELECT COUNT(*) FROM staging.stg_orders") == scratch.query(
        "SELECT COUNT(DISTINCT order_id) FROM staging.stg_orders"
    )


def test_overlapping_partition_ranges_at_once_evaluate_each_day_once(postgres, postgres_project, tmp_path):
    """Days 1-10 and 5-15 of a day-partitioned model, in two runs started together."""
    scratch = postgres_project.scratch(tmp_path)
    scratch.postgres = postgres.recreate("concurrent_partitions")
    create_instance(scratch)
    ranges = [("2024-01-01", "2024-01-10"), ("2024-01-05", "2024-01-15")]
    started = [
        start_probe(
            scratch,
            "--select",
            "web/page_views",
            "--tag",
            f"dagster/asset_partition_range_start={first}",
            "--tag",
            f"dagster/asset_partition_range_end={last}",
        )
        for first, last in ranges
    ]
    runs = [run.result() for run in started]

    assert [run["status"] for run in runs] == ["SUCCESS", "SUCCESS"], [run["failures"] for run in runs]
    assert overlapping_evaluations(*runs) == []
    # As a serial run leaves it: every day of the union once, each with its pages.
    assert scratch.query(
        "SELECT CAST(view_date AS TEXT), COUNT(*) FROM web.page_views GROUP BY 1 ORDER BY 1"
    ) == [[f"2024-01-{day:02d}", PAGES_PER_DAY] for day in range(1, 16)]
    # Each run's partitions are its whole range, whichever run evaluated a day.
    assert [len(run["partitions"]["web/page_views"]) for run in runs] == [10, 11]


@pytest.fixture(scope="module")
def slow_models(postgres, postgres_project, tmp_path_factory):
    """The sample with two models that sleep while they evaluate, deployed with their first day."""
    scratch = postgres_project.scratch(tmp_path_factory.mktemp("slow-models"), copy_sqlmesh_project=True)
    shutil.copytree(
        SLOW_MODELS, scratch.sqlmesh_project / "models" / "slow", ignore=shutil.ignore_patterns("*.md")
    )
    scratch.postgres = postgres.recreate("concurrent_slow")
    first = scratch.materialize(select=["slow/slow_a", "slow/slow_b"], tags=range_tags_of("2024-01-01"))
    assert first["status"] == "SUCCESS", first["failures"]
    return scratch


def range_tags_of(day: str) -> dict[str, str]:
    return {"dagster/asset_partition_range_start": day, "dagster/asset_partition_range_end": day}


def tag_arguments(tags: dict[str, str]) -> list[str]:
    return [argument for key, value in tags.items() for argument in ("--tag", f"{key}={value}")]


def test_runs_of_disjoint_models_evaluate_at_the_same_time(slow_models):
    scratch = slow_models
    started = [
        start_probe(scratch, "--select", f"slow/slow_{model}", *tag_arguments(range_tags_of("2024-01-02")))
        for model in ("a", "b")
    ]
    runs = [run.result() for run in started]
    assert [run["status"] for run in runs] == ["SUCCESS", "SUCCESS"], [run["failures"] for run in runs]
    assert not any(waited_for(run) for run in runs)

    (a_start, a_end), (b_start, b_end) = (
        scratch.query(f"SELECT started_at, ended_at FROM slow.slow_{model} WHERE day = '2024-01-02'")[0]
        for model in ("a", "b")
    )
    print(f"slow_a evaluated {a_start} .. {a_end}; slow_b {b_start} .. {b_end}")
    assert a_start < b_end and b_start < a_end, "the two evaluations did not overlap in time"


def test_a_run_killed_while_it_holds_a_model_releases_it_to_the_run_waiting(slow_models):
    """SIGKILL of the run evaluating slow_a (a 600-s day): the run waiting for slow_a goes on at once."""
    scratch = slow_models
    # Bounded: a lock that were never released fails the waiting run after 120 s instead of an hour.
    bounded = {"SQLMESH_LOCK_TIMEOUT_SECONDS": "120"}
    holder = start_probe(
        scratch, "--select", "slow/slow_a", *tag_arguments(range_tags_of("2024-01-05")), env=bounded
    )
    try:
        wait_until(lambda: sleeping_evaluations(scratch) == 1, "the first run to evaluate 2024-01-05")
        waiter = start_probe(
            scratch, "--select", "slow/slow_a", *tag_arguments(range_tags_of("2024-01-06")), env=bounded
        )
        wait_until(lambda: lock_sessions(scratch) == 2, "the second run to wait for slow_a")
        killed_at = time.monotonic()
        holder.kill()
        result = waiter.result()
    finally:
        holder.kill()
    finished_after = time.monotonic() - killed_at

    assert result["status"] == "SUCCESS", result["failures"]
    # Batches name the model with its catalog (the database): "<database>.slow.slow_a [...]".
    assert [batch.split(" ")[0].split(".", 1)[1] for batch in result["evaluated_batches"]] == ["slow.slow_a"]
    assert "2024-01-06" in result["evaluated_batches"][0]
    assert holder.process.returncode == -9
    print(f"the waiting run finished {finished_after:.1f} s after the holder was killed")
    # The killed run never completed its day: SQLMesh's state still misses it.
    assert scratch.query("SELECT COUNT(*) FROM slow.slow_a WHERE day = '2024-01-05'") == [[0]]


def sleeping_evaluations(scratch) -> int:
    """Statements of the warehouse in pg_sleep, that is, evaluations of a slow model under way."""
    ((count,),) = scratch.query(
        "SELECT COUNT(*) FROM pg_stat_activity WHERE state = 'active' AND query ILIKE '%pg_sleep%' "
        "AND pid <> pg_backend_pid()"
    )
    return count


def lock_sessions(scratch) -> int:
    """Sessions executions opened to take locks (their application_name says whose they are)."""
    ((count,),) = scratch.query(
        "SELECT COUNT(*) FROM pg_stat_activity WHERE application_name LIKE 'sqlmesh-lock %'"
    )
    return count


def wait_until(condition, what: str, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"waited {seconds} s for {what}"
        time.sleep(0.5)


def test_the_shipped_deployment_runs_a_backfill_and_other_runs_together(postgres, postgres_project, tmp_path):
    """deploy/ as its three processes (code server, webserver, daemon) on PostgreSQL storage and warehouse.

    A backfill of the day-partitioned models and two runs of the unpartitioned assets (what the
    schedule launches at its tick) are launched together: the daemon starts them all at once
    (deploy/dagster.yaml has no run limit) and every one succeeds. Runs apply their own plans
    here (auto_plan on): the deployed image's SQLMESH_AUTO_PLAN=false needs CI's plan first.
    """
    root = postgres_project.root
    scratch = postgres_project.scratch(tmp_path)
    scratch.postgres = postgres.recreate("deployed_warehouse")
    postgres.recreate("deployed_dagster")
    shutil.copy(root / "deploy" / "dagster.yaml", scratch.dagster_home / "dagster.yaml")
    scratch.extra_env = postgres.dagster_env("deployed_dagster")
    code_port, web_port = free_port(), free_port()
    workspace = tmp_path / "workspace.yaml"
    shipped = (root / "deploy" / "workspace.yaml").read_text()
    assert "host: code" in shipped and "port: 4000" in shipped
    workspace.write_text(
        shipped.replace("host: code", "host: 127.0.0.1").replace("port: 4000", f"port: {code_port}")
    )
    env, bin_dir = scratch.env(), root / ".venv" / "bin"
    code = [str(bin_dir / "dagster"), "code-server", "start", "-h", "127.0.0.1", "-p", str(code_port)]
    webserver = [
        str(bin_dir / "dagster-webserver"),
        "-h",
        "127.0.0.1",
        "-p",
        str(web_port),
        "-w",
        str(workspace),
    ]
    with (
        in_session([*code, "-m", "shop_analytics.definitions"], root, env, tmp_path / "code.log"),
        answering_grpc(bin_dir / "dagster", code_port, root, env),
        serving(webserver, root, env, web_port, timeout=180),
        in_session(
            [str(bin_dir / "dagster-daemon"), "run", "-w", str(workspace)], root, env, tmp_path / "daemon.log"
        ),
    ):
        backfill = graphql(
            web_port,
            BACKFILL,
            {
                "params": {
                    "partitionsByAssets": [
                        {"assetKey": {"path": ["web", model]}, "partitions": {"range": DEPLOYED_DAYS}}
                        for model in ("page_views", "daily_traffic")
                    ],
                    "fromFailure": False,
                }
            },
        )["launchPartitionBackfill"]
        assert backfill["__typename"] == "LaunchBackfillSuccess", backfill
        launched = [launch_assets(web_port, EVERY_UNPARTITIONED_STARTER_ASSET) for _ in range(2)]
        runs = wait_for_runs(web_port, backfill["backfillId"], launched)

    assert {run["status"] for run in runs.values()} == {"SUCCESS"}, runs
    windows = sorted((run["startTime"], run["endTime"]) for run in runs.values())
    assert any(later < earlier_end for (_, earlier_end), (later, _) in itertools.pairwise(windows)), windows
    assert scratch.query("SELECT COUNT(*) FROM web.page_views") == [[PAGES_PER_DAY * 6]]
    # The runs' own SQLMesh plans were applied one at a time: no ConflictingPlanError anywhere.
    for run_id in runs:
        summary = probe(root, postgres_project.package, env, "--summarize", run_id)
        assert not any(
            "ConflictingPlanError" in text for text in [*summary["errors"], *summary["failures"].values()]
        )


@contextmanager
def answering_grpc(
    dagster: Path, port: int, cwd: Path, env: dict[str, str], seconds: float = 180
) -> Iterator[None]:
    """Once the code server on ``port`` answers: the webserver and daemon then load it at their start."""
    deadline = time.monotonic() + seconds
    health = [str(dagster), "api", "grpc-health-check", "-h", "127.0.0.1", "-p", str(port)]
    while subprocess.run(health, check=False, cwd=cwd, env=env, capture_output=True, timeout=60).returncode:
        assert time.monotonic() < deadline, f"the code server did not answer within {seconds} s"
        time.sleep(1)
    yield


DEPLOYED_DAYS = {"start": "2024-01-01", "end": "2024-01-06"}
RUN_STATES = "{ runsOrError { ... on Runs { results { runId status startTime endTime } } } }"


def launch_assets(port: int, keys: list[str]) -> str:
    """Launch a run of ``keys`` as the UI does; its run id."""
    params = {
        "selector": {
            "repositoryLocationName": "shop_analytics",
            "repositoryName": "__repository__",
            "jobName": "__ASSET_JOB",
            "assetSelection": [{"path": key.split("/")} for key in keys],
        },
        "runConfigData": {},
    }
    reply = graphql(port, LAUNCH, {"params": params})["launchRun"]
    assert reply["__typename"] == "LaunchRunSuccess", reply
    return reply["run"]["runId"]


def wait_for_runs(port: int, backfill_id: str, launched: list[str], seconds: float = 480) -> dict[str, dict]:
    """Every run of the backfill and of ``launched``, once all have ended and the backfill is done."""
    deadline = time.monotonic() + seconds
    while True:
        backfill = graphql(port, BACKFILL_STATUS, {"id": backfill_id})["partitionBackfillOrError"]
        wanted = set(launched) | {run["runId"] for run in backfill["runs"]}
        runs = {run["runId"]: run for run in graphql(port, RUN_STATES)["runsOrError"]["results"]}
        ended = all(
            runs.get(run_id, {}).get("status") in ("SUCCESS", "FAILURE", "CANCELED") for run_id in wanted
        )
        if ended and backfill["status"] not in ("REQUESTED", "CANCELING", "FAILING"):
            assert backfill["status"] == "COMPLETED_SUCCESS", backfill
            return {run_id: runs[run_id] for run_id in wanted}
        assert time.monotonic() < deadline, f"not done within {seconds} s: {backfill} {runs}"
        time.sleep(2)
