"""Housekeeping of the run result folders: several runs at once never fail each other's steps."""

import os
import threading
from pathlib import Path

from {{ cookiecutter.package_name }}.sqlmesh_integration.execution import execution_stream
from {{ cookiecutter.package_name }}.sqlmesh_integration.runs.pruning import prune_finished_runs


def make_runs(runs_dir: Path, names: list[str]) -> None:
    for age, name in enumerate(reversed(names)):  # the first name is the newest
        folder = runs_dir / name
        folder.mkdir(parents=True)
        (folder / "events-1.jsonl").write_text("{}")
        os.utime(folder, (1_000_000 + age, 1_000_000 + age))


def test_keeps_the_newest_finished_runs_and_every_running_one(tmp_path):
    make_runs(tmp_path, [f"finished-{n}" for n in range(5)] + ["running"])
    error = prune_finished_runs(
        tmp_path, keep="finished-0", keep_finished=2, is_finished=lambda run: run != "running"
    )
    assert error is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["finished-0", "finished-1", "finished-2", "running"]


def test_runs_pruning_together_never_raise(tmp_path):
    names = [f"finished-{n}" for n in range(200)]
    make_runs(tmp_path, names + ["running"])
    errors: list[Exception | None] = []
    barrier = threading.Barrier(4)

    def prune(keep: str) -> None:
        barrier.wait()
        errors.append(
            prune_finished_runs(
                tmp_path, keep=keep, keep_finished=0, is_finished=lambda run: run != "running"
            )
        )

    threads = [threading.Thread(target=prune, args=(f"finished-{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [None] * 4
    assert "running" in {p.name for p in tmp_path.iterdir()}


def test_a_folder_that_cannot_be_read_is_reported_not_raised(tmp_path):
    error = prune_finished_runs(tmp_path / "missing", keep="x", keep_finished=0, is_finished=lambda run: True)
    assert isinstance(error, FileNotFoundError)


def test_streams_read_in_memory_are_bounded(tmp_path):
    for n in range(200):
        execution_stream.reader_for(tmp_path / f"run-{n}" / "events-1.jsonl")
    assert len(execution_stream._readers) <= execution_stream._REMEMBERED_STREAMS
    assert tmp_path / "run-199" / "events-1.jsonl" in execution_stream._readers
