"""Celery workers of a baked project: dagster-celery's executor hands each step to one of them.

Each worker has a Dagster home and a working folder of its own, as a worker on a
host of its own would; they share only what the environment names (the
PostgreSQL databases) and the broker. Each is started by the test and ended by
its process id, its pool processes with it.
"""

import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from helpers.project import InstalledProject

_TASK_SUCCEEDED = re.compile(r"Task execute_plan\[[0-9a-f-]+\] succeeded")
_STOP_SECONDS = 30


@dataclass
class Worker:
    name: str
    process: subprocess.Popen
    log: Path

    def executed_steps(self) -> int:
        """How many steps this worker executed to the end (each a task of its own)."""
        return len(_TASK_SUCCEEDED.findall(self.log.read_text(errors="replace")))

    def pool_processes(self) -> set[int]:
        """The process ids of the worker's pool, where steps execute."""
        return _children(self.process.pid)


@contextmanager
def celery_workers(
    project: InstalledProject, env: dict[str, str], root: Path, broker: str, count: int = 2
) -> Iterator[list[Worker]]:
    """Start ``count`` workers of ``project`` listening to ``broker`` (a Redis URL); stop them afterwards.

    ``env``: the project's settings (databases, SQLMesh project). The broker is
    Redis database 0 and the result backend database 1, as the project's
    ``DAGSTER_CELERY_BROKER`` and ``DAGSTER_CELERY_BACKEND`` must say too.
    """
    config = root / "celery-config"
    config.mkdir(parents=True)
    (config / "dagster_celery_config.py").write_text(
        f"broker_url = {broker + '/0'!r}\nresult_backend = {broker + '/1'!r}\n"
    )
    celery = project.root / ".venv" / "bin" / "celery"
    workers: list[Worker] = []
    try:
        for number in range(1, count + 1):
            folder = root / f"worker-{number}"
            home = folder / "dagster_home"
            home.mkdir(parents=True)
            shutil.copy(project.root / "deploy" / "dagster.yaml", home / "dagster.yaml")
            log = folder / "worker.log"
            with log.open("w") as output:
                process = subprocess.Popen(
                    [
                        str(celery),
                        "-A",
                        "dagster_celery.app",
                        "worker",
                        "--prefetch-multiplier=1",
                        "-Q",
                        "dagster",
                        "-n",
                        f"worker{number}@%h",
                        "--concurrency",
                        "2",
                        "--loglevel",
                        "INFO",
                    ],
                    cwd=folder,
                    env={**env, "DAGSTER_HOME": str(home), "PYTHONPATH": str(config)},
                    stdout=output,
                    stderr=subprocess.STDOUT,
                )
            workers.append(Worker(f"worker{number}", process, log))
        for worker in workers:
            _wait_until_ready(worker)
        yield workers
    finally:
        for worker in workers:
            _stop(worker)


def _wait_until_ready(worker: Worker, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert worker.process.poll() is None, f"{worker.name} exited:\n{worker.log.read_text()[-3000:]}"
        if " ready." in worker.log.read_text(errors="replace"):
            return
        time.sleep(0.2)
    raise AssertionError(f"{worker.name} was not ready within {timeout} s:\n{worker.log.read_text()[-3000:]}")


def _stop(worker: Worker) -> None:
    """A warm shutdown (the worker ends its pool); SIGKILL for the worker and its pool if it hangs."""
    pool = worker.pool_processes()
    if worker.process.poll() is None:
        worker.process.terminate()
        try:
            worker.process.wait(_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            worker.process.kill()
            worker.process.wait()
    for pid in pool:
        try:
            if b"celery" in Path(f"/proc/{pid}/cmdline").read_bytes():  # still that pool process
                os.kill(pid, signal.SIGKILL)
        except (OSError, ProcessLookupError):
            pass


def _children(pid: int) -> set[int]:
    children: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children |= {int(child) for child in (task / "children").read_text().split()}
        except OSError:
            continue
    return children
