"""The `config.yaml` of the small SQLMesh projects these tests write, on DuckDB files, in one place."""

from pathlib import Path


def write_duckdb_config(folder: Path, warehouse: Path, start: str | None = None) -> None:
    """A SQLMesh config in ``folder``: one gateway on the DuckDB file ``warehouse``, DuckDB's dialect,
    and ``start`` as every model's start when given (a date, ``2025-01-01``)."""
    defaults = "model_defaults:\n  dialect: duckdb\n" + (f"  start: '{start}'\n" if start else "")
    (folder / "config.yaml").write_text(
        f"gateways:\n  local:\n    connection:\n      type: duckdb\n      database: {warehouse}\n{defaults}"
    )
