"""What the Dagster definitions need from a SQLMesh project, cached by the project's content.

Definitions are built in every process that loads the code location: the
code server, each run worker and, under the multiprocess executor, each step.
Building them needs SQLMesh's models (lineage, columns, audits, crons), not a
loaded SQLMesh context, which costs seconds on a large project. A
:class:`ProjectDefinitions` is therefore read back from a cache when nothing
in the project changed. The cache key is the content of every file of the
SQLMesh project (models, macros, audits, seeds, signals, ``config.py``,
``external_models.yaml``, ...), the values of the environment variables those
files name, and the SQLMesh and Python versions. Any change means a full
load, as before. Executing SQLMesh always uses a fully loaded context.
"""

import gzip
import hashlib
import os
import pickle
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import sqlmesh
from sqlmesh import Context
from sqlmesh.core.audit import StandaloneAudit
from sqlmesh.core.lineage import column_dependencies
from sqlmesh.core.model import Model, SqlModel

from ..vocabulary.model_graph import is_asset_model

CACHE_FOLDER = Path(".cache") / "dagster_definitions"
"""Inside the SQLMesh project, beside SQLMesh's own cache (both are ignored by git)."""
_FORMAT = 7
"""Bump when :class:`ProjectDefinitions` changes, so older cache files are not read."""
_SKIPPED_FOLDERS = {".cache", "logs", "__pycache__"}
_KEPT_ENTRIES = 4
_QUOTED_NAME = re.compile(rb"[\"']([A-Za-z_][A-Za-z0-9_]*)[\"']")
_held: dict[Path, tuple[Path, "ProjectDefinitions"]] = {}
"""The definitions this process last read, per cache folder, with their cache entry.

The assets, the schedules and the automation each ask for the project's
definitions while the code location loads: the content is hashed each time,
so a change is still seen, but the same content is unpickled once (0.7 s and
a second copy of every model at 1,000 models)."""


@dataclass
class ProjectDefinitions:
    """The SQLMesh project as the Dagster definitions see it: models and audits, nothing executable."""

    path: str
    """The SQLMesh project's folder."""
    default_catalog: str | None
    warehouse_kind: str
    """The gateway's connection type (``duckdb``, ``postgres``): a kind shown on every asset."""
    models: Mapping[str, Model]
    standalone_audits: Mapping[str, StandaloneAudit]
    code_versions: Mapping[str, str]
    """Each asset model's data hash: its code version in Dagster."""
    columns: Mapping[str, dict[str, tuple[str, str | None]]]
    """Each asset model's columns: type (in the model's dialect) and description.

    Kept here because SQLMesh derives both by rendering the model's query,
    which is most of what building the definitions would otherwise cost."""
    column_lineage: Mapping[str, dict[str, list[tuple[str, str]]]] = field(default_factory=dict)
    """Each SQL model's columns: the (model fqn, column) pairs SQLMesh traces each one to.

    Traced once per content of the project, here, so a run reports it for free."""
    default_start: str | None = None
    """The project's ``model_defaults.start``, as written (a date, or relative like ``'1 week ago'``)."""
    default_dialect: str | None = None
    """The project's SQL dialect: how a ``select`` normalizes model names (:mod:`.model_selection`)."""
    from_cache: bool = field(default=False, compare=False)
    """Read back from the cache (no SQLMesh context was loaded)."""

    @classmethod
    def from_context(cls, context: Context) -> "ProjectDefinitions":
        assets = {fqn: model for fqn, model in context.models.items() if is_asset_model(model)}
        return cls(
            path=str(context.path),
            default_catalog=context.default_catalog,
            warehouse_kind=context.connection_config.type_,
            models=dict(context.models),
            default_start=_default_start(context),
            default_dialect=context.default_dialect,
            standalone_audits=dict(context.standalone_audits),
            code_versions={fqn: model.data_hash for fqn, model in assets.items()},
            columns={fqn: _columns(model) for fqn, model in assets.items() if model.columns_to_types},
            column_lineage={
                fqn: _column_lineage(context, model)
                for fqn, model in assets.items()
                if isinstance(model, SqlModel) and model.columns_to_types
            },
        )


def _default_start(context: Context) -> str | None:
    start = context.config.model_defaults.start
    return None if start is None else str(start)


def _columns(model: Model) -> dict[str, tuple[str, str | None]]:
    descriptions = model.column_descriptions
    return {
        name: (data_type.sql(dialect=model.dialect), descriptions.get(name))
        for name, data_type in (model.columns_to_types or {}).items()
    }


def _column_lineage(context: Context, model: SqlModel) -> dict[str, list[tuple[str, str]]]:
    """The columns each column of ``model`` is computed from, as SQLMesh's own column lineage traces it.

    A column computed from no column (``COUNT(*)``, a constant) has none and
    is left out; a query SQLMesh cannot trace gives no lineage at all rather
    than a guess.
    """
    lineage = {}
    for column in model.columns_to_types or {}:
        try:
            parents = column_dependencies(context, model.fqn, column)
        except Exception:
            return {}
        sources = sorted((parent, name) for parent, names in parents.items() for name in names)
        if sources:
            lineage[column] = sources
    return lineage


def cached_definitions(
    project_dir: Path, gateway: str | None, load: Callable[[], Context]
) -> ProjectDefinitions:
    """The project's definitions, from the cache when its content is unchanged, else from ``load()``.

    The same content asked again in this process gives the same object: do not
    modify it. A cache file that cannot be read is ignored (the project is
    loaded); one that cannot be written costs the next process a load, nothing more.
    """
    folder = project_dir / CACHE_FOLDER
    entry = folder / f"{content_key(project_dir, gateway)}.pickle.gz"
    held = _held.get(folder)
    if held is not None and held[0] == entry:
        return held[1]
    definitions = _read(entry)
    if definitions is None:
        # Loaded outside the read's ``except``: an error in the project is reported as its own,
        # not as the missing cache file it would otherwise be chained to.
        definitions = ProjectDefinitions.from_context(load())
        _store(folder, entry, definitions)
    _held[folder] = (entry, definitions)
    return definitions


def _read(entry: Path) -> ProjectDefinitions | None:
    try:
        with gzip.open(entry, "rb") as file:
            definitions: ProjectDefinitions = pickle.load(file)
    except Exception:  # missing, from another version, or half written by a killed process
        return None
    definitions.from_cache = True
    return definitions


def forget_held() -> None:
    """Forget the definitions this process holds: the next call reads the cache, as a new process does."""
    _held.clear()


def content_key(project_dir: Path, gateway: str | None) -> str:
    """A digest of everything that decides what the project's models are."""
    digest = hashlib.sha256()
    for part in (str(_FORMAT), sqlmesh.__version__, sys.version, str(project_dir.resolve()), str(gateway)):
        digest.update(part.encode() + b"\0")
    quoted: set[str] = set()
    for path in _project_files(project_dir):
        content = path.read_bytes()
        digest.update(str(path.relative_to(project_dir)).encode() + b"\0" + content + b"\0")
        quoted |= {name.decode() for name in _QUOTED_NAME.findall(content)}
    # config.py (or a model) may read the environment, always by a quoted name
    # (os.environ["WAREHOUSE_PATH"], env_var('X')): WAREHOUSE_PATH names the DuckDB catalog.
    for name in sorted(quoted & set(os.environ)):
        digest.update(f"{name}={os.environ[name]}".encode() + b"\0")
    return digest.hexdigest()[:32]


def _project_files(project_dir: Path) -> list[Path]:
    files = []
    for root, folders, names in os.walk(project_dir):
        folders[:] = sorted(f for f in folders if f not in _SKIPPED_FOLDERS and not f.startswith("."))
        files += [Path(root) / name for name in sorted(names) if not name.startswith(".")]
    return files


def _store(folder: Path, entry: Path, definitions: ProjectDefinitions) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        temporary = entry.with_name(f"{entry.name}.{os.getpid()}.tmp")
        with gzip.open(temporary, "wb", compresslevel=1) as file:
            pickle.dump(definitions, file, protocol=pickle.HIGHEST_PROTOCOL)
        temporary.replace(entry)
        # Keep the newest few: switching branches back and forth stays cheap.
        entries = sorted(folder.glob("*.pickle.gz"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in entries[_KEPT_ENTRIES:]:
            old.unlink(missing_ok=True)
    except Exception:  # a read-only project or a full disk: the next process loads again
        pass
