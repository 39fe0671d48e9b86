"""A run's records in SQLMesh's PostgreSQL state: what steps on other hosts share (runs/postgres_store.py).

Against the PostgreSQL server of the POSTGRES_* settings, in the tests' own database.
Two stores stand for two hosts: each has a session of its own, as a worker on another
host would. The owner's liveness is proven by killing a real owner with SIGKILL.
"""

import itertools
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from sqlmesh.core.config import PostgresConnectionConfig

from {{ cookiecutter.package_name }}.sqlmesh_integration.execution.execution_stream import (
    ExecutionEnded,
    LogLine,
    ModelFinished,
)
from {{ cookiecutter.package_name }}.sqlmesh_integration.runs.postgres_store import PostgresRunStore
from {{ cookiecutter.package_name }}.sqlmesh_integration.vocabulary.outcomes import ModelOutcome, ModelStatus

_schemas = itertools.count()


@pytest.fixture
def state(fresh_warehouse) -> tuple[PostgresConnectionConfig, str]:
    """The tests' database and a state schema of this test's own."""
    connection = PostgresConnectionConfig(
        host=os.environ.get("POSTGRES_HOST", "127.0.0.1"),
        port=int(os.environ.get("POSTGRES_PORT", "5432")),
        user=os.environ.get("POSTGRES_USER", "postgres"),
        password=os.environ.get("POSTGRES_PASSWORD", ""),
        database=os.environ["POSTGRES_DB"],
    )
    return connection, f"runs_{os.getpid()}_{next(_schemas)}"


def everything(claimed: set[str]) -> set[str]:
    return {"a", "b", "c"} - claimed


RUN = Path("run-1") / "sqlmesh"


def test_a_step_on_another_host_finds_the_claim_and_reads_the_stream_in_order(state):
    here, there = PostgresRunStore(*state), PostgresRunStore(*state)
    claim = here.claim(RUN, "b", everything, lambda claimed: None)
    found = there.claim(RUN, "c", lambda claimed: pytest.fail("claimed a second time"), lambda claimed: None)
    assert claim.to_start and not found.to_start
    assert (found.number, found.covers, found.owner) == (1, ["a", "b", "c"], os.getpid())

    writer, reader = here.writer(claim), there.reader(found)
    writer.append(LogLine("SQLMesh: evaluated a", "a"))
    writer.append(ModelFinished("a", ModelOutcome("s.a", ModelStatus.EVALUATED)))
    assert reader.read().outcomes["a"].status is ModelStatus.EVALUATED
    writer.append(LogLine("SQLMesh: evaluated b", "b"))
    writer.append(ExecutionEnded(plan_applied=True))
    state_read = reader.read()
    assert [line.text for line in state_read.lines_about["b"]] == ["SQLMesh: evaluated b"]
    assert state_read.end == ExecutionEnded(plan_applied=True)


def test_a_model_waiting_for_another_step_gets_a_later_execution(state):
    store = PostgresRunStore(*state)
    first = store.claim(RUN, "a", lambda claimed: everything(claimed) - {"c"}, lambda claimed: None)
    later = store.claim(RUN, "c", everything, lambda claimed: None)
    assert (first.number, first.covers) == (1, ["a", "b"])
    assert (later.number, later.covers, later.to_start) == (2, ["c"], True)
    assert [claim.number for claim in PostgresRunStore(*state).started(RUN)] == [1, 2]


def test_the_owner_is_alive_while_its_session_holds_the_claim_and_gone_once_it_released_it(state):
    owner, other = PostgresRunStore(*state), PostgresRunStore(*state)
    claim = owner.claim(RUN, "a", everything, lambda claimed: None)
    (seen,) = other.started(RUN)
    assert owner.owner_alive(claim) and other.owner_alive(seen)
    assert other.owner_alive(seen)  # testing the lock does not take it
    owner.release(claim)
    assert not other.owner_alive(seen)


OWNER = """\
import sys
from pathlib import Path
from sqlmesh.core.config import PostgresConnectionConfig
from {{ cookiecutter.package_name }}.sqlmesh_integration.runs.postgres_store import PostgresRunStore

store = PostgresRunStore(PostgresConnectionConfig(**__import__("json").loads(sys.argv[1])), sys.argv[2])
claim = store.claim(Path("run-1") / "sqlmesh", "a", lambda claimed: {"a", "b"}, lambda claimed: None)
print(claim.owner, flush=True)
sys.stdin.read()  # holds the claim until killed
"""


def seen_gone_within(seconds: float, store: PostgresRunStore, claim) -> bool:
    """Whether the store sees the claim's owner gone within ``seconds``.

    The server ends a killed client's session, and so frees its lock, once its backend reads
    the closed socket: a moment after the kill, not at it. Callers poll the same way.
    """
    deadline = time.monotonic() + seconds
    while store.owner_alive(claim):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_an_owner_killed_with_sigkill_is_seen_gone_from_another_host_and_what_it_wrote_stays(state):
    connection, schema = state
    settings = json.dumps(
        {key: getattr(connection, key) for key in ("host", "port", "user", "password", "database")}
    )
    owner = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(OWNER), settings, schema],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert int(owner.stdout.readline()) == owner.pid
        other = PostgresRunStore(*state)
        (claim,) = other.started(RUN)
        assert claim.owner == owner.pid and other.owner_alive(claim)
        PostgresRunStore(*state).writer(claim).append(
            ModelFinished("a", ModelOutcome("s.a", ModelStatus.EVALUATED))
        )

        os.kill(owner.pid, signal.SIGKILL)
        owner.wait(10)
        assert seen_gone_within(10, other, claim)
        assert "a" in other.reader(claim).read().outcomes
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()


def test_pruning_deletes_finished_runs_beyond_the_newest_kept(state):
    store = PostgresRunStore(*state)
    for number in range(1, 5):
        claim = store.claim(Path(f"run-{number}") / "sqlmesh", "a", everything, lambda claimed: None)
        store.writer(claim).append(ExecutionEnded())
        store.release(claim)
    # run-4 is the run pruning; run-3 is not finished; of the finished 1 and 2, the newest is kept.
    error = store.prune(None, keep="run-4", keep_finished=1, is_finished=lambda run_id: run_id != "run-3")
    assert error is None
    kept = [run for run in ("run-1", "run-2", "run-3", "run-4") if store.started(Path(run) / "sqlmesh")]
    assert kept == ["run-2", "run-3", "run-4"]
