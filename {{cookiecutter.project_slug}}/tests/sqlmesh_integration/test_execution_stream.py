"""One execution per run, read model by model by every step, whatever the number of processes."""

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from dagster import Failure
from filelock import FileLock

from {{ cookiecutter.package_name }}.sqlmesh_integration.execution.execution_stream import (
    ExecutionEnded,
    LogLine,
    ModelFinished,
    OutcomePublisher,
    StreamReader,
    StreamWriter,
)
from {{ cookiecutter.package_name }}.sqlmesh_integration.runs.claims import Progress, progress_of
from {{ cookiecutter.package_name }}.sqlmesh_integration.runs.following import follow
from {{ cookiecutter.package_name }}.sqlmesh_integration.runs.store import FILES, BeforeClaiming, Claim, Ready
from {{ cookiecutter.package_name }}.sqlmesh_integration.vocabulary.outcomes import AuditOutcome, ModelOutcome, ModelStatus


def every_status() -> dict[str, ModelOutcome]:
    return {
        '"w"."s"."a"': ModelOutcome(
            model="s.a",
            status=ModelStatus.EVALUATED,
            duration_ms=12,
            intervals=[("2024-01-01T00:00:00+00:00", "2024-01-02T00:00:00+00:00")],
            audits=[AuditOutcome("not_null", "columns=(id)", blocking=True, passed=False, failing_rows=3)],
            row_count=7,
        ),
        **{
            f'"w"."s"."{status.value}"': ModelOutcome(model=f"s.{status.value}", status=status, error="why")
            for status in ModelStatus
            if status is not ModelStatus.EVALUATED
        },
    }


def test_outcomes_of_every_status_and_the_end_round_trip_through_the_stream(tmp_path):
    writer = StreamWriter(tmp_path / "events-1.jsonl")
    outcomes = every_status()
    for fqn, outcome in outcomes.items():
        writer.append(ModelFinished(fqn, outcome))
    writer.append(ExecutionEnded(error="the warehouse went away", detail="Traceback ...", plan_applied=True))

    state = StreamReader(tmp_path / "events-1.jsonl").read()
    assert state.outcomes == outcomes
    assert state.end == ExecutionEnded(
        error="the warehouse went away", detail="Traceback ...", plan_applied=True
    )


def test_a_line_being_written_is_read_only_once_it_is_whole(tmp_path):
    path = tmp_path / "events-1.jsonl"
    StreamWriter(path).append(LogLine("SQLMesh: evaluating a", '"w"."s"."a"'))
    with path.open("a") as stream:
        stream.write('{"event": "line", "text": "SQLMesh: evalu')  # a writer in the middle of a line
    reader = StreamReader(path)
    assert [line.text for line in reader.read().lines_about['"w"."s"."a"']] == ["SQLMesh: evaluating a"]
    with path.open("a") as stream:
        stream.write('ating b", "model": null}\n')
    assert [line.text for line in reader.read().lines_about[None]] == ["SQLMesh: evaluating b"]


def test_a_model_is_reported_once_and_held_outcomes_wait_for_the_end_of_the_block(tmp_path):
    path = tmp_path / "events-1.jsonl"
    publisher = OutcomePublisher(StreamWriter(path))
    reader = StreamReader(path)
    evaluated = ModelOutcome("s.a", ModelStatus.EVALUATED)
    with publisher.holding():
        publisher.publish("a", evaluated)
        assert "a" not in reader.read().outcomes  # a plan has not promoted it yet
    assert reader.read().outcomes == {"a": evaluated}
    publisher.publish("a", ModelOutcome("s.a", ModelStatus.FAILED))  # the first outcome is final
    assert reader.read().outcomes == {"a": evaluated}
    assert path.read_text().count("model_finished") == 1


def test_events_appended_from_many_threads_arrive_whole(tmp_path):
    writer = StreamWriter(tmp_path / "events-1.jsonl")

    def burst(name: str) -> None:
        for number in range(200):
            writer.append(LogLine(f"{name}:{number}:" + "x" * 5000, name))

    threads = [threading.Thread(target=burst, args=(name,)) for name in "abcd"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = StreamReader(tmp_path / "events-1.jsonl").read().lines_about
    assert {name: len(lines[name]) for name in "abcd"} == dict.fromkeys("abcd", 200)
    assert all(line.text.endswith("x" * 5000) for name in "abcd" for line in lines[name])


def everything(claimed: set[str]) -> set[str]:
    return {"a", "b", "c"} - claimed


def claim_execution(
    run_dir: Path, fqn: str, ready: Ready, before_claiming: BeforeClaiming = lambda claimed: None
) -> Claim:
    return FILES.claim(run_dir, fqn, ready, before_claiming)


def test_the_first_step_claims_the_execution_for_the_whole_run_and_every_later_one_finds_it(tmp_path):
    first = claim_execution(tmp_path / "run-1", "b", everything)
    second = claim_execution(tmp_path / "run-1", "c", lambda claimed: pytest.fail("claimed a second time"))
    assert first.to_start and not second.to_start
    assert first.covers == second.covers == ["a", "b", "c"]
    assert first.events == second.events


def test_a_model_waiting_for_another_step_gets_a_later_execution(tmp_path):
    waits = {"c"}  # c is below an asset that is not SQLMesh's, whose step has not run yet
    first = claim_execution(tmp_path / "run-1", "a", lambda claimed: everything(claimed) - waits)
    waits.clear()  # that step succeeded
    later = claim_execution(tmp_path / "run-1", "c", lambda claimed: everything(claimed) - waits)
    assert (first.number, first.covers) == (1, ["a", "b"])
    assert (later.number, later.covers, later.to_start) == (2, ["c"], True)


def test_waiting_for_other_steps_happens_outside_the_lock_and_a_claim_made_meanwhile_is_found(tmp_path):
    run_dir = tmp_path / "run-1"
    lock = FileLock(run_dir / "execution.lock")
    seen = []

    def another_step_claims_while_this_one_waits(claimed: set[str]) -> None:
        with lock.acquire(timeout=0):  # raises Timeout if the claiming step held the lock while waiting
            seen.append(claimed)
        claim_execution(run_dir, "a", everything)

    found = claim_execution(
        run_dir, "b", everything, before_claiming=another_step_claims_while_this_one_waits
    )
    assert seen == [set()]
    assert (found.number, found.to_start, found.covers) == (1, False, ["a", "b", "c"])


def test_a_step_reads_its_own_outcome_and_lines_while_the_execution_goes_on(tmp_path):
    claim = claim_execution(tmp_path / "run-1", "a", everything)
    writer = StreamWriter(claim.events)
    writer.append(LogLine("SQLMesh: evaluated a", "a"))
    writer.append(LogLine("SQLMesh: evaluated b", "b"))
    writer.append(ModelFinished("a", ModelOutcome("s.a", ModelStatus.EVALUATED)))
    logged: list[str] = []

    state = follow(claim, "a", logged.append)  # no end yet: SQLMesh is still at work on b and c
    assert state.outcomes["a"].status is ModelStatus.EVALUATED and state.end is None
    assert logged == ["SQLMesh: evaluated a"]


def test_a_step_logs_what_it_reads_at_once_as_one_message_without_the_interim_line(tmp_path):
    """Each Dagster log event costs a write: "evaluating" adds nothing once "evaluated" is there."""
    claim = claim_execution(tmp_path / "run-1", "a", everything)
    writer = StreamWriter(claim.events)
    writer.append(LogLine("SQLMesh: evaluating a", "a", interim=True))
    writer.append(LogLine("SQLMesh: audit x of a failed on 2 row(s)", "a"))
    writer.append(LogLine("SQLMesh: evaluated a", "a"))
    writer.append(ModelFinished("a", ModelOutcome("s.a", ModelStatus.EVALUATED)))
    logged: list[str] = []

    follow(claim, "a", logged.append)
    assert logged == ["SQLMesh: audit x of a failed on 2 row(s)\nSQLMesh: evaluated a"]


def test_a_step_waiting_for_its_model_logs_that_sqlmesh_started_it(tmp_path):
    """Live progress: the interim line is logged while the step waits, the outcome's line after it."""
    claim = claim_execution(tmp_path / "run-1", "a", everything)
    writer = StreamWriter(claim.events)
    writer.append(LogLine("SQLMesh: evaluating a", "a", interim=True))
    logged: list[str] = []
    step = threading.Thread(target=follow, args=(claim, "a", logged.append))
    step.start()
    while not logged:
        step.join(0.01)
    writer.append(LogLine("SQLMesh: evaluated a", "a"))
    writer.append(ModelFinished("a", ModelOutcome("s.a", ModelStatus.EVALUATED)))
    step.join(5)
    assert not step.is_alive()
    assert logged == ["SQLMesh: evaluating a", "SQLMesh: evaluated a"]


def test_a_step_whose_model_was_not_reported_fails_when_the_owner_is_gone(tmp_path):
    """The process that owned the execution was killed: fail, never execute SQLMesh a second time."""
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    run_dir = tmp_path / "run-1"
    run_dir.mkdir()
    (run_dir / "started-1.json").write_text(json.dumps({"covers": ["a", "b"], "owner": int(gone.stdout)}))
    claim = claim_execution(run_dir, "b", lambda claimed: pytest.fail("claimed a second time"))
    assert claim == Claim(run_dir, 1, ["a", "b"], int(gone.stdout), to_start=False)

    with pytest.raises(Failure, match="stopped before it ended its execution"):
        follow(claim, "b", print)


def test_a_model_of_another_project_is_building_until_its_execution_reports_it(tmp_path):
    """What a step waits for, before claiming, in the execution of another project (another component)."""
    claim = claim_execution(tmp_path / "run-1" / "base", "a", lambda claimed: {"a", "b", "c"})
    writer = StreamWriter(claim.events)
    assert progress_of(claim, "a") is Progress.BUILDING
    writer.append(ModelFinished("a", ModelOutcome("s.a", ModelStatus.UP_TO_DATE)))
    writer.append(ModelFinished("b", ModelOutcome("s.b", ModelStatus.SKIPPED)))

    progress = [progress_of(claim, fqn) for fqn in "abc"]
    assert progress == [Progress.BUILT, Progress.NOT_BUILT, Progress.BUILDING]
    writer.append(ExecutionEnded(error="the warehouse went away"))
    assert progress_of(claim, "c") is Progress.NOT_BUILT


def test_a_model_of_another_project_is_not_built_when_its_owner_is_gone(tmp_path):
    """Its stream will never end: waiting for it would be waiting for ever."""
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    claim = Claim(tmp_path, 1, ["a", "b"], int(gone.stdout), to_start=False)
    StreamWriter(claim.events).append(ModelFinished("a", ModelOutcome("s.a", ModelStatus.EVALUATED)))

    assert progress_of(claim, "a") is Progress.BUILT  # what it reported before it died stands
    assert progress_of(claim, "b") is Progress.NOT_BUILT
