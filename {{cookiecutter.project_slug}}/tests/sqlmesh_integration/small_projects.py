"""The small SQLMesh projects these tests write, on DuckDB files: their `config.yaml` in one place."""

from pathlib import Path


def write_duckdb_config(folder: Path, warehouse: Path, start: str | None = None) -> None:
    """A SQLMesh config in ``folder``: one gateway on the DuckDB file ``warehouse``, DuckDB's dialect,
    and ``start`` as every model's start when given (a date, ``2025-01-01``)."""
    defaults = "model_defaults:\n  dialect: duckdb\n" + (f"  start: '{start}'\n" if start else "")
    (folder / "config.yaml").write_text(
        f"gateways:\n  local:\n    connection:\n      type: duckdb\n      database: {warehouse}\n{defaults}"
    )


def numbered_project(root: Path, models: int, first_reads: str | None = None) -> Path:
    """``root/sqlmesh_project`` on ``root/warehouse.duckdb``: FULL models ``s.m0``, ``s.m1``, ... each
    selecting its number, ``s.m0`` from the table ``first_reads`` when given."""
    project = root / "sqlmesh_project"
    (project / "models").mkdir(parents=True)
    write_duckdb_config(project, root / "warehouse.duckdb")
    for number in range(models):
        source = f" FROM {first_reads}" if first_reads and number == 0 else ""
        (project / "models" / f"m{number}.sql").write_text(
            f"MODEL (name s.m{number}, kind FULL);\nSELECT {number} AS n{source}\n"
        )
    return project
