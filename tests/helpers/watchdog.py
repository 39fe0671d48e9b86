"""Servers that stop themselves when the test process that started them is killed.

A server the tests start is stopped by its block's ``finally``, which a test process
killed with SIGKILL never runs. So each server block also starts a watchdog: a small
process in a session of its own that waits for its parent (the test process) to end,
then runs the server's stop commands. The block ends the watchdog, by its process id,
before it stops the server itself.
"""

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

# Reparented once its parent is gone, whatever reaps the parent and whenever.
WATCH = """
import json, os, subprocess, sys, time
parent, commands = int(sys.argv[1]), json.loads(sys.argv[2])
while os.getppid() == parent:
    time.sleep(1)
for command in commands:
    subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
"""


@contextmanager
def stopped_if_the_tests_die(*commands: list[str]) -> Iterator[None]:
    """Run ``commands`` (each an argument list), in order, if this process ends inside the block."""
    watchdog = subprocess.Popen(
        [sys.executable, "-c", WATCH, str(os.getpid()), json.dumps(list(commands))],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        yield
    finally:
        watchdog.kill()
        watchdog.wait()


def kill_process_groups(*process_ids: int) -> list[str]:
    """The command that ends each process's group (the processes were started in sessions of their own)."""
    return ["kill", "-KILL", "--", *(f"-{pid}" for pid in process_ids)]
