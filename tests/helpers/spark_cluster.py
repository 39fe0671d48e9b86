"""A throwaway Apache Spark standalone cluster on 127.0.0.1: one master and two workers, each a process.

Started with the `spark-class` launcher of the pyspark wheel a `warehouse=spark`
bake installs (Spark's own jars; Java 17, which `.ci/run` installs when
missing). Every address Spark binds, its web UIs included, is 127.0.0.1
(SPARK_LOCAL_IP). Each process runs in a session of its own, so that the
executors a worker launches for an application end with it: every one is
ended by its process group when the block ends, or by a watchdog when the
tests are killed (helpers/watchdog.py).
"""

import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from helpers.watchdog import kill_process_groups, stopped_if_the_tests_die

WORKERS = 2

QUICK_JVM_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
"""The options of every JVM of the tests: the cluster's, its executors' and the drivers'.

Each SQLMesh command starts a driver, and the workers an executor for it, on a
few rows: most of their CPU went to the C2 compiler optimizing Spark's code
for a long life. Compiling with C1 only, and one garbage-collection thread,
took the Spark tests from 810 to 413 CPU seconds (2 cores), with the same
outcomes. Each JVM says so on its stderr ("Picked up JAVA_TOOL_OPTIONS").
"""


def jvm_environment(temporary: Path) -> dict[str, str]:
    """JAVA_TOOL_OPTIONS for a JVM of the tests: :data:`QUICK_JVM_OPTIONS`, its temporary files in ``temporary``.

    Spark's scratch folders (``spark-<uuid>``) and the native libraries its
    compression codecs unpack go to ``java.io.tmpdir``, /tmp unless told: in
    the cluster's folder they go with it instead of staying behind in /tmp.
    """
    assert not any(character.isspace() for character in str(temporary)), (
        f"JAVA_TOOL_OPTIONS splits on spaces: {temporary} has one"
    )
    return {"JAVA_TOOL_OPTIONS": f"{QUICK_JVM_OPTIONS} -Djava.io.tmpdir={temporary}"}


def java_binary() -> str | None:
    """The java program, or None when no Java runtime is installed."""
    return shutil.which("java")


@dataclass(frozen=True)
class SparkCluster:
    master_url: str
    """``spark://127.0.0.1:<port>``: SPARK_MASTER for the projects that use it."""
    ui_port: int
    """The master's web UI, whose ``/json/`` says what the workers and applications are."""
    jvm_env: dict[str, str]
    """The environment a driver of the tests adds (:func:`jvm_environment`, in the cluster's folder)."""

    def state(self) -> dict:
        return _json(f"http://127.0.0.1:{self.ui_port}/json/")

    def applications_by_worker(self) -> dict[str, set[str]]:
        """Worker id -> the applications (SQLMesh's Spark sessions) it has run an executor of."""
        ran = {}
        for worker in self.state()["workers"]:
            details = _json(worker["webuiaddress"] + "/json/")
            executors = details["executors"] + details["finishedexecutors"]
            ran[worker["id"]] = {executor["appid"] for executor in executors}
        return ran


def _json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as reply:
        return json.load(reply)


@contextmanager
def spark_cluster(spark_home: Path, folder: Path, ports: tuple[int, int]) -> Iterator[SparkCluster]:
    """Start a master on ``ports`` (its own, its UI's) and two workers; yield the cluster; end them all."""
    launcher = spark_home / "bin" / "spark-class"
    temporary = folder / "tmp"
    temporary.mkdir(parents=True, exist_ok=True)
    jvm_env = jvm_environment(temporary)
    env = {
        **os.environ,
        "SPARK_HOME": str(spark_home),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_LOG_DIR": str(folder / "logs"),
        "SPARK_NO_DAEMONIZE": "1",
        **jvm_env,  # the workers pass their environment on to the executors they launch
    }
    (folder / "logs").mkdir(parents=True, exist_ok=True)
    master_port, ui_port = ports
    cluster = SparkCluster(f"spark://127.0.0.1:{master_port}", ui_port, jvm_env)
    processes: list[subprocess.Popen] = []

    def start(name: str, *arguments: str) -> None:
        log = (folder / "logs" / f"{name}.out").open("wb")
        processes.append(
            subprocess.Popen(
                [str(launcher), *arguments],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
        log.close()

    try:
        master = "org.apache.spark.deploy.master.Master"
        start(
            "master", master, "--host", "127.0.0.1", "--port", str(master_port), "--webui-port", str(ui_port)
        )
        for number in range(1, WORKERS + 1):
            work = folder / f"worker{number}"
            work.mkdir(exist_ok=True)
            start(
                f"worker{number}",
                "org.apache.spark.deploy.worker.Worker",
                cluster.master_url,
                "--host", "127.0.0.1",
                "--webui-port", "0",
                "--cores", "1",
                "--memory", "1g",
                "--work-dir", str(work),
            )  # fmt: skip
        with stopped_if_the_tests_die(kill_process_groups(*(process.pid for process in processes))):
            _wait_for_workers(cluster, processes, folder)
            yield cluster
    finally:
        for process in processes:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _wait_for_workers(cluster: SparkCluster, processes: list[subprocess.Popen], folder: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        exited = [process.args[1] for process in processes if process.poll() is not None]
        assert not exited, f"{exited} exited; see {folder / 'logs'}"
        with suppress(OSError, ValueError):
            workers = cluster.state()["workers"]
            if sum(worker["state"] == "ALIVE" for worker in workers) == WORKERS:
                return
        time.sleep(0.5)
    raise AssertionError(
        f"the Spark cluster did not have {WORKERS} workers within 90 s; see {folder / 'logs'}"
    )
