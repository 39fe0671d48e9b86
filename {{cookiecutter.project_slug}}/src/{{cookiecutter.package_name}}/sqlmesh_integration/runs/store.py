"""Where a run's executions are recorded: the claims, each execution's stream, and who owns it.

Two stores keep the same records (see :mod:`.run_results`):

- :class:`FileRunStore`, the default: files in a run-scoped folder of the
  Dagster instance's storage, a file lock over the claims, and the owner's
  process id checked on this host. Every step of a run must be on one host.
- :class:`.PostgresRunStore`: tables of the integration's own in the
  PostgreSQL database of SQLMesh's state, which every step reaches from any
  host; the owner proves it is alive with a session lock there.

Which one a run uses is decided in :mod:`.placement`. Everything above this
module goes through a :class:`Claim` and its store, never through a path.
"""

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from dagster import DagsterInstance
from filelock import FileLock

from ..execution.execution_stream import StreamReader, StreamWriter, reader_for
from .pruning import prune_finished_runs

Ready = Callable[[set[str]], set[str]]
"""Given the models the run's executions claimed, those a new execution may cover now."""
BeforeClaiming = Callable[[set[str]], None]
"""Runs before a new execution is claimed, outside any lock: it may wait for other steps."""


class RunStore(Protocol):
    """Keeps a run's claims and execution streams where every step of the run reaches them."""

    poll_seconds: float
    """How often a waiting step reads the stream again."""
    steps_queue: bool
    """Whether the run's steps are handed to workers of their own, and may wait in a queue for one."""

    def run_dir(self, instance: DagsterInstance, run_id: str, project: str) -> Path:
        """Where one project's executions of a run are recorded (a folder, or a key naming both)."""
        ...

    def claim(self, run_dir: Path, fqn: str, ready: Ready, before_claiming: BeforeClaiming) -> "Claim": ...

    def started(self, run_dir: Path) -> list["Claim"]: ...

    def writer(self, claim: "Claim") -> StreamWriter: ...

    def reader(self, claim: "Claim") -> StreamReader: ...

    def owner_alive(self, claim: "Claim") -> bool: ...

    def release(self, claim: "Claim") -> None:
        """The owner is done with ``claim``'s execution (its stream has ended)."""
        ...

    def prune(
        self, instance: DagsterInstance, keep: str, keep_finished: int, is_finished: Callable[[str], bool]
    ) -> Exception | None: ...


@dataclass(frozen=True)
class Claim:
    """An execution of the run that covers a model: found, or claimed just now to be started."""

    run_dir: Path
    number: int
    covers: list[str]
    owner: int
    """The process that started it (or will): it stops it, and records how it ended."""
    to_start: bool
    store: RunStore = field(default_factory=lambda: FILES, compare=False, repr=False)
    owner_host: str | None = field(default=None, compare=False)
    """The owner's host, where the store records it (steps on other hosts)."""

    def describe_owner(self) -> str:
        return f"pid {self.owner}" + (f" on {self.owner_host}" if self.owner_host else "")

    @property
    def events(self) -> Path:
        """The stream's file; in a store that is not files, the key that names the stream."""
        return self.run_dir / f"events-{self.number}.jsonl"


def covering(store: RunStore, run_dir: Path, fqn: str) -> tuple[Claim | None, set[str]]:
    """The execution that covers ``fqn`` if one does, and every model the run's executions claimed."""
    claimed: set[str] = set()
    for claim in store.started(run_dir):
        if fqn in claim.covers:
            return claim, claimed | set(claim.covers)
        claimed |= set(claim.covers)
    return None, claimed


class FileRunStore:
    """The run's records as files of the instance's storage, on the run's one host.

    ``<storage>/sqlmesh_runs/<run_id>/<project>/``: ``execution.lock``, a file
    lock over the claims; ``started-<n>.json``, the models execution ``n``
    covers and its owner's process id; ``events-<n>.jsonl``, its stream.
    """

    poll_seconds = 0.05
    steps_queue = False

    def run_dir(self, instance: DagsterInstance, run_id: str, project: str) -> Path:
        return self.runs_dir(instance) / run_id / project

    @staticmethod
    def runs_dir(instance: DagsterInstance) -> Path:
        return Path(instance.storage_directory()) / "sqlmesh_runs"

    def claim(self, run_dir: Path, fqn: str, ready: Ready, before_claiming: BeforeClaiming) -> Claim:
        """The execution of the run that covers ``fqn``; claimed now, if none does yet.

        Safe across the processes of a run (``execution.lock``). When no execution
        covers ``fqn``, ``before_claiming(claimed)`` runs outside the lock, then a
        new execution covers every model ``ready`` allows (never fewer than
        ``fqn`` itself). ``ready`` runs under the lock, so it must only look, never wait.
        """
        run_dir.mkdir(parents=True, exist_ok=True)
        lock = FileLock(run_dir / "execution.lock")
        with lock:
            found, claimed = covering(self, run_dir, fqn)
        if found is not None:
            return found
        before_claiming(claimed)
        with lock:
            found, claimed = covering(self, run_dir, fqn)
            if found is not None:
                return found
            covers = sorted(ready(claimed) | {fqn})
            number = len(self.started(run_dir)) + 1
            _write_atomically(
                run_dir / f"started-{number}.json", json.dumps({"covers": covers, "owner": os.getpid()})
            )
            return Claim(run_dir, number, covers, os.getpid(), to_start=True, store=self)

    def started(self, run_dir: Path) -> list[Claim]:
        """The run's executions so far, in order, from their ``started`` files."""
        claims = []
        for path in sorted(run_dir.glob("started-*.json"), key=_number):
            record = json.loads(path.read_text())
            claims.append(
                Claim(run_dir, _number(path), record["covers"], record["owner"], to_start=False, store=self)
            )
        return claims

    def writer(self, claim: Claim) -> StreamWriter:
        return StreamWriter(claim.events)

    def reader(self, claim: Claim) -> StreamReader:
        return reader_for(claim.events)

    def owner_alive(self, claim: Claim) -> bool:
        return process_alive(claim.owner)

    def release(self, claim: Claim) -> None:
        """Nothing to release: the owner's process id is the proof, and it ends with the process."""

    def prune(
        self, instance: DagsterInstance, keep: str, keep_finished: int, is_finished: Callable[[str], bool]
    ) -> Exception | None:
        return prune_finished_runs(
            self.runs_dir(instance), keep=keep, keep_finished=keep_finished, is_finished=is_finished
        )


FILES = FileRunStore()


def process_alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie awaiting its parent counts as ended)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # no /proc (macOS): the signal said it exists
    return state != "Z"


def _number(path: Path) -> int:
    return int(path.stem.rsplit("-", 1)[1])


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(text)
    temporary.replace(path)
