"""A throwaway Redis server on 127.0.0.1: the Celery broker of the step-per-worker tests.

Uses Debian's `redis-server` (which `.ci/run` installs when missing). Nothing is
written to disk; the server is ended by its process id when the block ends, or by a
watchdog when the tests are killed (helpers/watchdog.py).
"""

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

from helpers.watchdog import stopped_if_the_tests_die


def redis_binary() -> str | None:
    """The redis-server program, or None when Redis is not installed."""
    return shutil.which("redis-server")


@contextmanager
def redis_server(port: int) -> Iterator[str]:
    """Start a server on ``port``; yield its URL (``redis://127.0.0.1:<port>``); stop it afterwards."""
    binary = redis_binary()
    assert binary is not None, "Redis is not installed"
    with tempfile.TemporaryDirectory(prefix="redis-for-tests-") as folder:
        process = subprocess.Popen(
            [
                binary,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                folder,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            with stopped_if_the_tests_die(["kill", "-KILL", str(process.pid)], ["rm", "-rf", folder]):
                _wait_until_it_answers(port, process)
                yield f"redis://127.0.0.1:{port}"
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_it_answers(port: int, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"redis-server exited with code {process.returncode}"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as connection:
                connection.sendall(b"PING\r\n")
                if connection.recv(16).startswith(b"+PONG"):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"redis-server did not answer on port {port} within {timeout} s")
