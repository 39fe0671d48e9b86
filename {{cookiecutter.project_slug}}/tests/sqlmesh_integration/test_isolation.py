"""SQLMesh in a child process: it runs apart, ends its stream whatever happens, and can be stopped."""

import gc
import os
import signal
import time
from pathlib import Path

from small_projects import numbered_project
from sqlmesh import Context
from sqlmesh.core import constants as sqlmesh_constants

from {{ cookiecutter.package_name }}.sqlmesh_integration.execution.execution import MaterializeMode
from {{ cookiecutter.package_name }}.sqlmesh_integration.execution.execution_stream import StreamReader, StreamWriter
from {{ cookiecutter.package_name }}.sqlmesh_integration.execution.selection import RunSelection
from {{ cookiecutter.package_name }}.sqlmesh_integration.runs.isolation import start_isolated
from {{ cookiecutter.package_name }}.sqlmesh_integration.runs.ownership import execute_to_stream, watch
from {{ cookiecutter.package_name }}.sqlmesh_integration.runs.store import Claim


def test_the_work_runs_in_another_process(tmp_path):
    marker = tmp_path / "pid"
    execution = start_isolated(lambda: marker.write_text(str(os.getpid())))
    assert execution.wait(60)
    assert execution.how_it_ended() is None
    assert int(marker.read_text()) == execution.pid != os.getpid()


def test_starting_an_execution_keeps_what_this_process_froze(tmp_path):
    """The code location freezes what it built (definitions.py): starting an execution keeps it so."""
    froze_here = gc.get_freeze_count() == 0  # unless the definitions were imported already
    if froze_here:
        gc.freeze()
    frozen = gc.get_freeze_count()
    try:
        execution = start_isolated(lambda: None)
        assert execution.wait(60)
        assert gc.get_freeze_count() == frozen
        assert gc.isenabled()
    finally:
        if froze_here:
            gc.unfreeze()


def forks_while_loading(project: Path, tmp_path: Path) -> int:
    """Load ``project`` in an execution's child; how many processes the child forked meanwhile."""
    counted = tmp_path / "forks"

    def load() -> None:
        forks: list[int] = []
        os.register_at_fork(after_in_parent=lambda: forks.append(1))
        Context(paths=str(project))
        counted.write_text(str(len(forks)))

    execution = start_isolated(load)
    assert execution.wait(120)
    assert execution.how_it_ended() is None
    return int(counted.read_text())


def test_the_child_loads_sqlmesh_without_forking_a_pool_of_workers(tmp_path, monkeypatch):
    """Each of SQLMesh's workers would be one more fork of a process holding Dagster and the definitions."""
    monkeypatch.delenv("MAX_FORK_WORKERS", raising=False)
    monkeypatch.setattr(sqlmesh_constants, "MAX_FORK_WORKERS", 2)  # what SQLMesh reads on a 2-CPU machine
    assert forks_while_loading(numbered_project(tmp_path, 4), tmp_path) == 0
    assert sqlmesh_constants.MAX_FORK_WORKERS == 2  # this process is left as it was


def test_a_team_that_sets_max_fork_workers_keeps_sqlmesh_s_pool_in_the_child(tmp_path, monkeypatch):
    monkeypatch.setenv("MAX_FORK_WORKERS", "2")
    monkeypatch.setattr(sqlmesh_constants, "MAX_FORK_WORKERS", 2)  # SQLMesh read the variable at import
    assert forks_while_loading(numbered_project(tmp_path, 4), tmp_path) >= 1


class ModelBroke(ValueError):
    pass


class BrokenProject:
    """Stands in for the SQLMesh resource: what matters here is how the stream ends, not SQLMesh."""

    def execute(self, *args, **kwargs):
        raise ModelBroke("model marts.orders is broken")


def test_an_error_ends_the_stream_with_its_message_type_and_traceback(tmp_path):
    events = tmp_path / "events-1.jsonl"
    writer = StreamWriter(events)
    execution = start_isolated(
        lambda: execute_to_stream(BrokenProject(), RunSelection({}), MaterializeMode.RUN, set(), writer)
    )
    assert execution.wait(60)
    end = StreamReader(events).read().end
    assert end is not None and end.error == "model marts.orders is broken"
    assert "ModelBroke: model marts.orders is broken" in end.detail and "in execute" in end.detail


def watched(tmp_path: Path, work, is_stopping=lambda: False):
    claim = Claim(tmp_path, 1, ["a"], os.getpid(), to_start=False)
    execution = start_isolated(work)
    watch(execution, StreamWriter(claim.events), claim, is_stopping)
    return execution, StreamReader(claim.events).read().end


def test_a_killed_child_ends_the_stream_saying_so(tmp_path):
    execution, end = watched(tmp_path, lambda: os.kill(os.getpid(), signal.SIGKILL))
    assert end is not None and f"(pid {execution.pid}) was killed by signal SIGKILL" in end.error


def test_a_terminated_run_stops_the_child(tmp_path):
    """What the UI's Terminate does: the run is CANCELING while SQLMesh works; the child must end."""
    started = time.monotonic()
    execution, end = watched(tmp_path, lambda: time.sleep(600), is_stopping=lambda: True)
    assert time.monotonic() - started < 30
    assert end is not None and "was killed by signal SIGTERM" in end.error
    assert not Path(f"/proc/{execution.pid}").exists() or execution.wait(0)
