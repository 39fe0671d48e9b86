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

from pathlib import Path

from sqlmesh.core.config import Config, ConnectionConfig
from sqlmesh.core.config.connection import BaseDuckDBConnectionConfig, DuckDBAttachOptions
from sqlmesh.core.config.loader import load_configs

_NOT_FILES = (":memory:", "")


def load_project_configs(project_dir: str | Path) -> dict[Path, Config]:
    """The project's configuration (``config.yaml`` or ``config.py``), relative paths anchored in it."""
    folder = Path(project_dir).absolute()
    return {
        path: anchored(config, folder)
        for path, config in load_configs("config", Config, paths=folder).items()
    }


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
