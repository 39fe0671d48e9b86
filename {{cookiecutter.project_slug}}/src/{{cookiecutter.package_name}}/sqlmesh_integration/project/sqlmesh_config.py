"""The SQLMesh project's configuration, read as SQLMesh's CLI reads it inside the project folder.

A team runs ``sqlmesh plan`` inside the SQLMesh project's folder, so a
relative path in its configuration (``database: db.db`` in the config
``sqlmesh init`` writes, an attached catalog, a separate state file) means a
file in that folder. Dagster runs elsewhere (the repository's root, a
container's working directory), where SQLMesh would resolve the same path
to another file: a second warehouse and a second state, and the CLI would
build everything again. Every relative DuckDB path is therefore anchored at
the project folder before SQLMesh sees the configuration, for every gateway,
so Dagster's runs, the definitions and the warehouse resource open exactly
the files the team's CLI opens. Nothing is written back to the team's files.
"""

import functools
import os
from pathlib import Path

from sqlmesh.core.config import Config, ConnectionConfig
from sqlmesh.core.config.common import ALL_CONFIG_FILENAMES, YAML_CONFIG_FILENAMES
from sqlmesh.core.config.connection import BaseDuckDBConnectionConfig, DuckDBAttachOptions
from sqlmesh.core.config.loader import load_configs
from sqlmesh.core.constants import SQLMESH_PATH

_NOT_FILES = (":memory:", "")


def load_project_configs(project_dir: str | Path) -> dict[Path, Config]:
    """The project's configuration (``config.yaml`` or ``config.py``), relative paths anchored in it."""
    folder = Path(project_dir).absolute()
    return {
        path: anchored(config, folder)
        for path, config in load_configs("config", Config, paths=folder).items()
    }


def project_config(project_dir: str | Path) -> Config:
    """The project's SQLMesh configuration, read again only when what it is read from changed.

    Every step of a run asks for the gateway's connections (where the run's
    steps meet, :mod:`..runs.placement`), and reading ``config.py`` costs about
    1 ms, most of a second in a 1,000-model run. What decides the
    configuration is its files (``config.py`` or ``config.yaml``, the ``.env``
    SQLMesh reads beside them, the personal ``~/.sqlmesh/config.yaml``) and the
    environment variables they read, so those are the key. Do not modify the
    result: it is shared.
    """
    folder = Path(project_dir).absolute()
    return _read_config(folder, _config_inputs(folder))


@functools.lru_cache(maxsize=16)
def _read_config(folder: Path, inputs: tuple[object, ...]) -> Config:
    (config,) = load_project_configs(folder).values()
    return config


def _config_inputs(folder: Path) -> tuple[object, ...]:
    """What a project's configuration is read from: each file's size and time, and the environment."""
    files = [folder / name for name in (*ALL_CONFIG_FILENAMES, ".env")]
    files += [SQLMESH_PATH / name for name in YAML_CONFIG_FILENAMES]
    stats: list[object] = []
    for path in files:
        try:
            stat = path.stat()
        except OSError:
            stats.append(None)
        else:
            stats.append((stat.st_mtime_ns, stat.st_size))
    return (*stats, hash(frozenset(os.environ.items())))


def anchored(config: Config, folder: Path) -> Config:
    """``config`` with every relative DuckDB path of every connection made absolute under ``folder``."""
    gateways = {
        name: gateway.model_copy(
            update={
                "connection": _anchored(gateway.connection, folder),
                "state_connection": _anchored(gateway.state_connection, folder),
                "test_connection": _anchored(gateway.test_connection, folder),
            }
        )
        for name, gateway in config.gateways.items()
    }
    return config.model_copy(
        update={
            "gateways": gateways,
            "default_connection": _anchored(config.default_connection, folder),
        }
    )


def _anchored(connection: ConnectionConfig | None, folder: Path) -> ConnectionConfig | None:
    if not isinstance(connection, BaseDuckDBConnectionConfig):
        return connection
    update: dict[str, object] = {}
    database = getattr(connection, "database", None)
    if isinstance(database, str) and _is_relative_file(database):
        update["database"] = str(folder / database)
    if connection.catalogs:
        update["catalogs"] = {
            name: _anchored_catalog(path, folder) for name, path in connection.catalogs.items()
        }
    return connection.model_copy(update=update) if update else connection


def _anchored_catalog(catalog: str | DuckDBAttachOptions, folder: Path) -> str | DuckDBAttachOptions:
    if isinstance(catalog, str):
        return str(folder / catalog) if _is_relative_file(catalog) else catalog
    # Other types (postgres, sqlite's own files aside) take a connection string, not a path.
    if catalog.type in ("duckdb", "sqlite") and _is_relative_file(catalog.path):
        return catalog.model_copy(update={"path": str(folder / catalog.path)})
    return catalog


def _is_relative_file(path: str) -> bool:
    """A path on disk relative to the working directory (not in memory, not ``md:`` or ``s3://``)."""
    return path not in _NOT_FILES and ":" not in path and not Path(path).is_absolute()
