"""Start a `dagster dev` (through make, as a user would), talk to it, stop it cleanly."""

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# GraphQL's launchRun, as the UI's Materialize sends it.
LAUNCH = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
  }
}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def graphql(port: int, query: str, variables: dict | None = None) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())["data"]


SHUTDOWN_SECONDS = 90
"""How long every process of a stopped `make dev` may take to exit."""


def processes_in_session(session_id: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getsid(int(entry.name)) == session_id:
                    pids.append(int(entry.name))
            except ProcessLookupError:
                pass
    return pids


def _default_signals() -> None:
    # A shell started in the background ignores SIGINT; dagster dev must not inherit that.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


@contextmanager
def serving(command: list[str], cwd: Path, env: dict[str, str], port: int, timeout: float) -> Iterator[str]:
    """Run ``command`` until it answers /server_info on ``port``; yield its output file's path.

    Ended as :func:`in_session` ends it.
    """
    log = cwd / f".serve-{port}.log"
    with in_session(command, cwd, env, log) as server:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2):
                    break
            except OSError:
                assert server.poll() is None, f"{command} exited:\n{log.read_text()[-5000:]}"
                assert time.monotonic() < deadline, (
                    f"no answer within {timeout} s:\n{log.read_text()[-5000:]}"
                )
                time.sleep(1)
        yield str(log)


@contextmanager
def in_session(command: list[str], cwd: Path, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """Run ``command`` in a session of its own, its output in ``log``; end the whole session on exit.

    Every path ends every process of the session: SIGTERM to the group, then
    SIGKILL to each process still alive ``SHUTDOWN_SECONDS`` later. When the
    body did not fail, a process that needed SIGKILL fails the test, named.
    """
    with log.open("wb") as output:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_default_signals,  # noqa: PLW1509 (the tests start no threads)
        )
    try:
        yield process
    except BaseException:
        _end_session(process)
        raise
    left = _end_session(process)
    assert not left, f"{command} left processes behind {SHUTDOWN_SECONDS} s after SIGTERM: {left}"


def _end_session(process: subprocess.Popen) -> dict[int, str]:
    """SIGTERM the session's group, SIGKILL what is left after the grace period; what was left."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:  # the whole group already exited
        pass
    # dagster dev stops its webserver, daemon, code servers and run workers one after the other:
    # on a loaded machine (two test workers on two cores) that takes longer than when alone.
    deadline = time.monotonic() + SHUTDOWN_SECONDS
    try:
        process.wait(timeout=SHUTDOWN_SECONDS)  # reaped: the leader is not left behind as a zombie
    except subprocess.TimeoutExpired:
        pass
    while processes_in_session(process.pid) and time.monotonic() < deadline:
        time.sleep(0.5)
    left = {pid: _command_line(pid) for pid in processes_in_session(process.pid)}
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait()
    return left


def _command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")[:200]
    except OSError:
        return "(ended)"
