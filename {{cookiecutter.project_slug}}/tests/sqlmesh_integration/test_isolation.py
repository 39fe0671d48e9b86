"""SQLMesh in a child process: values, lines and errors come back; a dead or stopped child is reported."""

import os
import signal
import threading
import time

import pytest

from {{ cookiecutter.package_name }}.sqlmesh_integration.isolation import (
    ExecutionProcessDied,
    SQLMeshExecutionError,
    run_isolated,
)


def test_the_value_and_every_line_come_back_in_order():
    lines: list[str] = []

    def work(send):
        for number in range(3):
            send(f"line {number}")
        return {"pid": os.getpid()}

    value = run_isolated(work, lines.append)
    assert lines == ["line 0", "line 1", "line 2"]
    assert value["pid"] != os.getpid()  # it ran in another process


def test_lines_sent_from_many_threads_arrive_whole():
    lines: list[str] = []

    def work(send):
        def burst(name):
            for number in range(200):
                send(f"{name}:{number}:" + "x" * 2000)

        threads = [threading.Thread(target=burst, args=(name,)) for name in "abcd"]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    run_isolated(work, lines.append)
    assert len(lines) == 800
    assert all(line.endswith("x" * 2000) for line in lines)


class ModelBroke(ValueError):
    pass


def test_an_error_keeps_its_type_and_the_child_traceback():
    def work(send):
        raise ModelBroke("model marts.orders is broken")

    with pytest.raises(ModelBroke, match="marts.orders is broken") as raised:
        run_isolated(work, print)
    assert "Raised in the process executing SQLMesh" in raised.value.__notes__[0]
    assert "in work" in raised.value.__notes__[0]


def test_an_error_that_cannot_cross_processes_keeps_its_type_name():
    class Local(Exception):  # a local class cannot be pickled
        pass

    def work(send):
        raise Local("nope")

    with pytest.raises(SQLMeshExecutionError, match=r"Local: nope"):
        run_isolated(work, print)


def test_a_killed_child_is_reported_as_such():
    def work(send):
        os.kill(os.getpid(), signal.SIGKILL)

    with pytest.raises(ExecutionProcessDied, match="was killed by signal SIGKILL"):
        run_isolated(work, print)


def test_an_interrupted_step_stops_the_child():
    """What a terminated run does: the step is interrupted while SQLMesh works; the child must end."""
    pids: list[int] = []

    def work(send):
        send(str(os.getpid()))
        time.sleep(600)

    def on_message(line):
        pids.append(int(line))
        raise KeyboardInterrupt  # Dagster interrupts a terminated step with an exception

    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        run_isolated(work, on_message)
    assert time.monotonic() - started < 30
    with pytest.raises(ProcessLookupError):
        os.kill(pids[0], 0)
