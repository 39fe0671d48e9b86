"""A server the tests started stops when the test process is killed with SIGKILL (helpers/watchdog.py)."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from helpers.watchdog import kill_process_groups, stopped_if_the_tests_die

TESTS_DIR = Path(__file__).parent  # helpers/ is imported from here
# A test process: starts a "server" in a session of its own, as the server helpers do, then waits.
TESTS = """\
import subprocess, sys, time
from helpers.watchdog import kill_process_groups, stopped_if_the_tests_die

server = subprocess.Popen(["sleep", "300"], start_new_session=True)
with stopped_if_the_tests_die(kill_process_groups(server.pid)):
    print(server.pid, flush=True)
    time.sleep(300)
"""


def ended(pid: int) -> bool:
    """Whether ``pid`` is gone or a zombie (ended, not yet reaped)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def ended_within(seconds: float, pid: int) -> bool:
    deadline = time.monotonic() + seconds
    while not ended(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_the_server_of_a_test_process_killed_with_sigkill_is_stopped():
    tests = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(TESTS)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(TESTS_DIR)},
    )
    server = int(tests.stdout.readline())
    try:
        assert not ended(server)
        os.kill(tests.pid, signal.SIGKILL)
        tests.wait(10)
        assert ended_within(10, server)
    finally:
        if not ended(server):
            os.kill(server, signal.SIGKILL)


def test_a_block_that_ends_normally_leaves_the_stopping_to_its_own_code():
    server = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        with stopped_if_the_tests_die(kill_process_groups(server.pid)):
            pass
        time.sleep(1.5)  # longer than the watchdog's poll: had it run its commands, the server would be gone
        assert server.poll() is None
    finally:
        server.kill()
        server.wait()
