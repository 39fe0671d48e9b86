"""The benchmark's view of processes, from ``/proc``: trees by parenthood, sessions, ending by id.

Shared by the measured runs (``run.py``), the concurrency case's batches
(``concurrency.py``) and its PostgreSQL server (``postgres.py``). Every
process the benchmark ends, it ends by its id: never by name.
"""

from __future__ import annotations

import contextlib
import os
import signal


def _stat_fields() -> dict[int, list[str]]:
    """The fields after the command name of every live process's ``/proc/<pid>/stat``, by pid."""
    fields = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as stat:
                # The command name is in parentheses and may hold spaces: split after it.
                fields[int(entry.name)] = stat.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process ended meanwhile
    return fields


def session_members(session: int) -> list[int]:
    """Every live process of a session, the leader included."""
    return [pid for pid, fields in _stat_fields().items() if int(fields[3]) == session]  # state ppid pgrp sid


def process_tree(root: int) -> list[int]:
    """``root`` and its live descendants, by parent id: PostgreSQL's backends each start a session of
    their own, so the server's processes are found by parenthood, not by session."""
    children: dict[int, list[int]] = {}
    for pid, fields in _stat_fields().items():
        children.setdefault(int(fields[1]), []).append(pid)
    tree, pending = [], [root]
    while pending:
        pid = pending.pop()
        tree.append(pid)
        pending.extend(children.get(pid, []))
    return tree


def end_session(session: int) -> list[int]:
    """SIGKILL every process left in ``session``, by id, and reap those that are this process's children."""
    members = session_members(session)
    for pid in members:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    for pid in members:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
    return members
