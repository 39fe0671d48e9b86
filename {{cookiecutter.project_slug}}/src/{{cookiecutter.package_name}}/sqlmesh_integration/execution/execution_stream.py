"""One SQLMesh execution as a stream of typed events, in a file every step of the run can read.

The process executing SQLMesh appends an event as soon as SQLMesh reports
it: a log line (about one model, or about the whole execution), a model's
final outcome, and, last, the end of the execution. Each asset step reads
the stream until its own model's outcome is there, so it reports and
finishes while SQLMesh goes on with the other models, and its log holds its
own model's lines.

Each line also says when it was appended (``at``, seconds since the epoch):
how long a step took to report what SQLMesh had finished can be read off the
stream and the run's event log.

The file is append-only, one JSON object per line, each written with a
single ``write`` on a file opened for appending: a reader never sees half an
event, and whatever was appended before a crash stays readable. A stream
without an ``end`` event belongs to an execution that is still going on, or
to one whose process died (the reader checks who is alive, see
:mod:`..runs.following`).
"""

import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..vocabulary.outcomes import ModelOutcome

_REMEMBERED_STREAMS = 64
_readers: dict[Path, "StreamReader"] = {}


@dataclass(frozen=True)
class LogLine:
    """A line SQLMesh's execution reported, about one model (its fqn) or the whole execution (None)."""

    text: str
    model: str | None = None
    interim: bool = False
    """Made redundant by any later line about the same model (SQLMesh started evaluating it).

    A step logs such a line while it waits, for live progress, and leaves it
    out when the line that follows is already there: one log event instead of two.
    """


@dataclass(frozen=True)
class ModelFinished:
    """A model's final outcome in this execution: its asset can report it now."""

    fqn: str
    outcome: ModelOutcome


@dataclass(frozen=True)
class ExecutionEnded:
    """The execution is over: every outcome it will ever report is in the stream."""

    error: str | None = None
    """Why SQLMesh could not execute (a locked warehouse, a killed process); None when it ran."""
    detail: str | None = None
    """Where the error came from (the traceback in the process that executed SQLMesh)."""
    plan_applied: bool = False


Event = LogLine | ModelFinished | ExecutionEnded


class StreamWriter:
    """Appends events to a stream file; safe to call from SQLMesh's worker threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def append(self, event: Event) -> None:
        line = (json.dumps({**_encode(event), "at": time.time()}, default=str) + "\n").encode()
        with self._lock:
            self._write(line)

    def _write(self, line: bytes) -> None:
        """Append one whole line: a stream kept elsewhere (a database table) writes it there."""
        descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(descriptor, line)
        finally:
            os.close(descriptor)


class OutcomePublisher:
    """Publishes each model's outcome once, as soon as it is final; safe from any thread.

    While :meth:`holding`, outcomes are kept back and published when the
    block ends (see :meth:`.SQLMeshExecution.run` for when).
    """

    def __init__(self, writer: StreamWriter) -> None:
        self.writer = writer
        self.published: dict[str, ModelOutcome] = {}
        self._held: list[str] = []
        self._holding = False
        self._lock = threading.Lock()

    def has_published(self, fqn: str) -> bool:
        with self._lock:
            return fqn in self.published

    def publish(self, fqn: str, outcome: ModelOutcome) -> None:
        """Publish ``fqn``'s outcome, unless it already was: a model's first outcome is final."""
        with self._lock:
            if fqn in self.published:
                return
            self.published[fqn] = outcome
            if self._holding:
                self._held.append(fqn)
                return
        self.writer.append(ModelFinished(fqn, self.published[fqn]))

    @contextmanager
    def holding(self, hold: bool = True) -> Iterator[None]:
        with self._lock:
            self._holding = hold
        try:
            yield
        finally:
            with self._lock:
                self._holding, held, self._held = False, self._held, []
            for fqn in held:
                self.writer.append(ModelFinished(fqn, self.published[fqn]))


@dataclass
class StreamState:
    """Everything read from a stream so far."""

    lines_about: dict[str | None, list[LogLine]] = field(default_factory=dict)
    """The lines read so far, by the model they are about (None: the whole execution)."""
    outcomes: dict[str, ModelOutcome] = field(default_factory=dict)
    end: ExecutionEnded | None = None


class StreamReader:
    """Reads a stream incrementally: each call to :meth:`read` parses only what was appended since."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.state = StreamState()
        self._offset = 0
        self._lock = threading.Lock()

    def read(self) -> StreamState:
        with self._lock:
            for line in self._appended():
                event = _decode(json.loads(line))
                if isinstance(event, LogLine):
                    self.state.lines_about.setdefault(event.model, []).append(event)
                elif isinstance(event, ModelFinished):
                    # The first outcome of a model is its outcome: nothing is reported twice.
                    self.state.outcomes.setdefault(event.fqn, event.outcome)
                elif self.state.end is None:
                    self.state.end = event
            return self.state

    def _appended(self) -> list[bytes]:
        """The whole lines appended since the last call: a stream kept elsewhere reads them there."""
        try:
            with self.path.open("rb") as stream:
                stream.seek(self._offset)
                appended = stream.read()
        except FileNotFoundError:
            return []
        complete = appended[: appended.rfind(b"\n") + 1]  # a line being written is read next time
        self._offset += len(complete)
        return complete.splitlines()


def reader_for(path: Path) -> StreamReader:
    """This process's reader of a stream: the steps it runs read each event once between them."""
    reader = _readers.get(path)
    if reader is None:
        reader = _readers[path] = StreamReader(path)
        while len(_readers) > _REMEMBERED_STREAMS:
            del _readers[next(iter(_readers))]
    return reader


def _encode(event: Event) -> dict[str, Any]:
    if isinstance(event, ModelFinished):
        return {"event": "model_finished", "fqn": event.fqn, "outcome": asdict(event.outcome)}
    kind = "line" if isinstance(event, LogLine) else "ended"
    return {"event": kind, **asdict(event)}


def _decode(data: dict[str, Any]) -> Event:
    kind = data.pop("event")
    data.pop("at", None)
    if kind == "line":
        return LogLine(**data)
    if kind == "model_finished":
        return ModelFinished(fqn=data["fqn"], outcome=ModelOutcome.from_dict(data["outcome"]))
    return ExecutionEnded(**data)
