"""Messages a person can act on when the SQLMesh project is broken.

SQLMesh's errors are right, but not always easy to act on:

- a broken audit file raises a bare SQL parse error that does not say which file;
- a broken ``config.py`` says "name 'X' is not defined" without a file or line;
- SQL parse errors carry terminal colour codes and a cut-off excerpt;
- a model whose table cannot be created ends a plan with "Plan application
  failed.", while the model and the database's error are only in ``__context__``.

:func:`load_error` turns a project that does not load into one paragraph: the
file (and line when known), what is wrong, and what to do; Dagster shows it as
the code location's load error. :func:`creation_failures` names the models a
plan could not create, with the database's error, so that each fails its own
asset while the rest of the run goes on.
"""

import re
import traceback
from collections.abc import Iterator
from pathlib import Path
from types import FrameType, TracebackType

from sqlglot.errors import ParseError
from sqlmesh.core.model import Model
from sqlmesh.core.snapshot.evaluator import SnapshotCreationFailedError

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_SQL_POSITION = re.compile(r"^(?P<what>.*?)\.? Line (?P<line>\d+), Col: (?P<column>\d+)\.")
_UNDEFINED_AUDIT = re.compile(r"Audit '(?P<name>[^'{}]+)' is undefined")
_FROM_FILE = re.compile(r"^Failed to load model from file '[^']+':\s*", re.DOTALL)
_RELOAD = "then reload the definitions (Reload on the code location in the Dagster UI, or restart make dev)"


_DUCKDB_LOCK = re.compile(
    r'Could not set lock on file "(?P<path>[^"]+)": '
    r"Conflicting lock is held in (?P<holder>.+?) \(PID (?P<pid>\d+)\)"
)


class WarehouseLockedError(RuntimeError):
    """Another process holds the DuckDB file; says which one and how to release it."""

    @classmethod
    def from_duckdb(cls, error: Exception) -> "WarehouseLockedError | None":
        found = _DUCKDB_LOCK.search(str(error))
        if found is None:
            return None
        return cls(
            f"The warehouse {found['path']} is locked by another process: {found['holder']} "
            f"(PID {found['pid']}). DuckDB lets one process use the file at a time. Close that "
            "DuckDB session (a notebook, the duckdb shell, another tool), or stop the process "
            f"(kill {found['pid']}), then materialize again."
        )


class SQLMeshProjectError(Exception):
    """The SQLMesh project could not be loaded; the message says where and why."""


def load_error(error: BaseException, project_dir: str | Path) -> SQLMeshProjectError:
    """Explain why ``Context(paths=project_dir)`` raised ``error``, in one paragraph."""
    project = Path(project_dir).resolve()
    try:
        return _explain_load_error(error, project)
    except Exception:  # never let the explanation hide the error; raise it `from error`
        return SQLMeshProjectError(f"SQLMesh could not load the project in {project}: {_text(error)}")


def _explain_load_error(error: BaseException, project: Path) -> SQLMeshProjectError:
    chain = list(_chain(error))
    path, line, column = _where(chain, project)
    what, hint = _what_and_hint(chain, project)
    parts = [f"SQLMesh could not load the project in {project}."]
    if path is not None:
        place = _display(path, project)
        if line is not None:
            place += f", line {line}" + (f", column {column}" if column else "")
        parts.append(f"{place}: {_sentence(what)}")
        excerpt = _excerpt(path, line, previous=_is_parse_error(chain))
        if excerpt:
            parts.append(excerpt)
    else:
        parts.append(_sentence(what))
    parts.append(f"{hint}, {_RELOAD}.")
    return SQLMeshProjectError(" ".join(parts))


def creation_failures(error: BaseException) -> dict[str, str] | None:
    """The models whose tables a plan could not create, each with what to tell the user.

    Keyed by the model's fully qualified name. None when ``error`` is not such
    a failure (the caller then raises it as it is).
    """
    creation = next((e for e in _chain(error) if isinstance(e, SnapshotCreationFailedError)), None)
    if creation is None or not creation.errors:
        return None
    failures = {}
    for failed in creation.errors:
        fqn = getattr(failed.node, "name", str(failed.node))
        # The model and its file head the step's failure (see reporting/reporting.py).
        failures[fqn] = (
            f"SQLMesh could not create its table: {_database_error(failed.__cause__ or failed)}. "
            "Fix the model, then materialize again."
        )
    return failures


def model_file(project_path: str | Path, model: Model) -> str | None:
    """The file a model is defined in, as ``sqlmesh_project/models/...`` when inside the project."""
    path = getattr(model, "_path", None)  # SQLMesh keeps a model's file in a private field
    return _display(Path(path), Path(project_path).resolve()) if path else None


def _chain(error: BaseException) -> Iterator[BaseException]:
    """``error`` and what caused it, outermost first (``__cause__``, else ``__context__``)."""
    seen = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if type(current).__name__ != "_RemoteTraceback":  # a worker's traceback as text
            yield current
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)


def _where(chain: list[BaseException], project: Path) -> tuple[Path | None, int | None, int | None]:
    """The project file the error is about, and the line and column when known."""
    for error in chain:
        if isinstance(error, SyntaxError) and error.filename:
            return Path(error.filename), error.lineno, error.offset
    frames = [frame for error in reversed(chain) for frame in _frames(error.__traceback__)]
    path = next((Path(e.location) for e in chain if getattr(e, "location", None)), None)
    if path is None:  # config.py, a Python model or a macro raised while it was executed
        executed = (Path(frame.f_code.co_filename) for frame, _ in frames)
        path = next((file for file in executed if _is_project_file(file, project)), None)
    if path is None:  # the file a SQLMesh loader was reading, e.g. an audit that did not parse
        read = (frame.f_locals.get("path") for frame, _ in frames)
        path = next((Path(file) for file in read if _is_project_file(file, project)), None)
    if path is None:
        return None, None, None
    position = next(filter(None, (_SQL_POSITION.match(_text(e)) for e in chain)), None)
    if position:
        return path, int(position["line"]), int(position["column"])
    line = next((n for f, n in frames if _same_file(f.f_code.co_filename, path)), None)
    return path, line, None


def _frames(tb: TracebackType | None) -> list[tuple[FrameType, int]]:
    """The frames of a traceback, innermost first."""
    return list(reversed(list(traceback.walk_tb(tb))))


def _what_and_hint(chain: list[BaseException], project: Path) -> tuple[str, str]:
    root = chain[-1]
    text = _text(root)
    if isinstance(root, SyntaxError):
        return f"Python syntax error: {root.msg}", "Fix the Python at that line"
    if isinstance(root, NameError):
        return f"{type(root).__name__}: {text}", "Define that name or correct its spelling"
    if isinstance(root, FileNotFoundError) and root.filename:
        missing = _display(Path(root.filename), project)
        return f"a file it reads is missing: {missing}", "Restore it or correct the path that points at it"
    position = _SQL_POSITION.match(text)
    if _is_parse_error(chain) and position:
        return (
            f"SQL syntax error: {position['what']}",
            "Check the SQL there and just before it (a misspelled keyword, a missing comma or parenthesis)",
        )
    audit = next(filter(None, (_UNDEFINED_AUDIT.search(_text(e)) for e in chain)), None)
    if audit:
        return (
            f"the audit '{audit[1]}' does not exist",
            "Add it as a file under audits/, use a built-in audit (not_null, unique_values, "
            "accepted_values, ...), or correct the name",
        )
    return text.rstrip("."), "Fix the file"


def _sentence(text: str) -> str:
    return text if text.endswith((".", "?", "!")) else f"{text}."


def _is_parse_error(chain: list[BaseException]) -> bool:
    return any(isinstance(e, ParseError) for e in chain)


def _text(error: BaseException) -> str:
    """An exception's message without colour codes, SQLMesh's file prefix or trailing excerpt."""
    text = _ANSI.sub("", str(error)).strip()
    text = _FROM_FILE.sub("", text)
    text = re.sub(r"^Failed to load config file:\s*", "", text)
    position = _SQL_POSITION.match(text)
    if position:
        return position.group(0)  # the excerpt after it is cut mid-word; _excerpt shows the file's lines
    return " ".join(text.split())


def _excerpt(path: Path, line: int | None, previous: bool) -> str:
    """The offending line (and, for SQL parse errors, the one before it) as it is in the file."""
    if line is None or not path.is_file():
        return ""
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    if not 1 <= line <= len(lines):
        return ""
    first = line - 1 if previous and line > 1 else line
    numbers = f"Lines {first}-{line}" if first < line else f"Line {line}"
    shown = " / ".join(f"`{text.strip()}`" for text in lines[first - 1 : line])
    return f"{numbers}: {shown}."


def _database_error(error: BaseException) -> str:
    """The database's message without the excerpt of generated SQL that follows it."""
    text = _ANSI.sub("", str(error)).split("\n\nLINE ")[0]
    return " ".join(text.split()).rstrip(".")


def _is_project_file(path: object, project: Path) -> bool:
    return isinstance(path, (str, Path)) and _inside(Path(path), project) and Path(path).is_file()


def _same_file(filename: str, path: Path) -> bool:
    try:
        return Path(filename).resolve() == path.resolve()
    except OSError:
        return False


def _inside(path: Path, folder: Path) -> bool:
    try:
        return path.resolve().is_relative_to(folder)
    except OSError:
        return False


def _display(path: Path, project: Path) -> str:
    """``path`` relative to the project's parent (``sqlmesh_project/models/...``) when inside it."""
    resolved = path.resolve()
    return str(resolved.relative_to(project.parent)) if resolved.is_relative_to(project) else str(resolved)
