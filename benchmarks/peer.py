"""A peer contestant for the benchmark: the ``dagster-sqlmesh`` package from PyPI.

dagster-sqlmesh turns a whole SQLMesh project into one Dagster multi-asset whose
single op plans and runs SQLMesh. It gets its own virtual environment, so it
resolves the dagster and sqlmesh versions it supports rather than the baked
project's; :class:`PeerEnv` records the versions it ended up with.

The definitions module written by :func:`write_peer_definitions` is wired as the
package's public API reads in the installed release (0.22.0 when this was
written): ``SQLMeshContextConfig(path=..., gateway=...)``, the
``@sqlmesh_assets(environment=..., config=...)`` decorator, a body that yields
from ``SQLMeshResource.run(context, config=..., environment=...)``, and
``Definitions(assets=[...], resources={"sqlmesh": SQLMeshResource()})``.
Two choices differ from the package's README example, on purpose:

- ``environment="prod"`` instead of ``"dev"``: the benchmark checks the
  production views (``layer_<L>.model_<i>``), which is also what ``bare``
  builds with ``plan("prod")``. A ``dev`` run would only fill ``layer_<L>__dev``.
- ``run()`` gets ``config=`` and ``environment=`` explicitly, and
  ``SQLMeshResource`` is built without arguments: in the current release
  ``config`` is a required keyword of ``run()``, the resource holds no config,
  and ``run()`` defaults to ``environment="dev"`` whatever the decorator says.

Nothing in the synthetic project has to change for the peer: it reads the
baked ``config.py`` (gateway ``local``, DuckDB at ``WAREHOUSE_PATH``) as is.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from venvs import ToolVenv, installed_versions

PEER_PACKAGE = "dagster-sqlmesh"
PEER_MODULE = "peer_definitions"
# The baked project's interpreter line; dagster-sqlmesh supports 3.11 and 3.12.
PEER_PYTHON = "3.11"
VERSIONED = (PEER_PACKAGE, "dagster", "sqlmesh", "duckdb", "sqlglot")

# The module the peer contestants import. It is plain text on purpose: it runs in the
# peer's interpreter, never in this one, which has neither dagster nor sqlmesh.
DEFINITIONS_SOURCE = '''\
"""dagster-sqlmesh wired for the benchmark: the whole SQLMesh project as one multi-asset.

Needs SQLMESH_PROJECT_DIR (the SQLMesh project folder) and whatever that project's
config reads (WAREHOUSE_PATH here). SQLMESH_GATEWAY picks the gateway (default: local).
`python -m {module}` materializes every asset in process on an ephemeral instance
and prints one JSON line: {{"ok": ..., "assets": <materializations>}}.
"""

import json
import os

from dagster import AssetExecutionContext, DagsterInstance, Definitions, materialize
from dagster_sqlmesh import SQLMeshContextConfig, SQLMeshResource, sqlmesh_assets

ENVIRONMENT = "prod"

sqlmesh_config = SQLMeshContextConfig(
    path=os.environ["SQLMESH_PROJECT_DIR"],
    gateway=os.environ.get("SQLMESH_GATEWAY", "local"),
)


@sqlmesh_assets(environment=ENVIRONMENT, config=sqlmesh_config)
def sqlmesh_project(context: AssetExecutionContext, sqlmesh: SQLMeshResource):
    yield from sqlmesh.run(context, config=sqlmesh_config, environment=ENVIRONMENT)


defs = Definitions(assets=[sqlmesh_project], resources={{"sqlmesh": SQLMeshResource()}})


def materialize_all() -> dict:
    """Every asset, in this process, on a throwaway instance (DAGSTER_HOME is not read)."""
    result = materialize(
        [sqlmesh_project],
        resources={{"sqlmesh": SQLMeshResource()}},
        instance=DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    return {{"ok": result.success, "assets": len(result.get_asset_materialization_events())}}


if __name__ == "__main__":
    outcome = materialize_all()
    print(json.dumps(outcome))
    raise SystemExit(0 if outcome["ok"] else 1)
'''


class PeerEnv(ToolVenv):
    """The peer's own virtual environment and what got installed into it."""


def install_peer(
    workdir: Path, uv: Path, python: str = PEER_PYTHON, duckdb_version: str | None = None
) -> PeerEnv:
    """Create ``<workdir>/peer-venv`` afresh and install the latest dagster-sqlmesh into it.

    uv resolves dagster and sqlmesh to whatever the peer's release accepts; the
    versions it picked are read back with ``importlib.metadata`` in that venv.
    Pass the baked project's DuckDB version as ``duckdb_version``: unpinned, uv
    may pick a DuckDB whose file format the project's DuckDB cannot open (2.x
    writes storage version 69, 1.5 reads up to 68), and verify_tables would fail
    on a warehouse the peer built correctly; it also keeps the engine the same.
    """
    root = workdir / "peer-venv"
    subprocess.run(
        [str(uv), "venv", "--quiet", "--clear", "--python", python, str(root)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    peer = PeerEnv(root=root)
    # duckdb is named explicitly: the project's gateway needs it, and this is where it is pinned.
    duckdb = f"duckdb=={duckdb_version}" if duckdb_version else "duckdb"
    subprocess.run(
        [
            str(uv),
            "pip",
            "install",
            "--quiet",
            "--compile-bytecode",
            "--python",
            str(peer.python),
            PEER_PACKAGE,
            duckdb,
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return PeerEnv(root=root, versions=installed_versions(peer.python, VERSIONED))


def write_peer_definitions(target_dir: Path) -> str:
    """Write the peer's definitions module into ``target_dir``; return its module name."""
    target_dir.mkdir(parents=True, exist_ok=True)
    (target_dir / f"{PEER_MODULE}.py").write_text(DEFINITIONS_SOURCE.format(module=PEER_MODULE))
    return PEER_MODULE


def peer_commands(peer: PeerEnv, module: str, module_dir: Path) -> dict[str, list[str]]:
    """The command lines of the two peer contestants.

    - ``peer-cli``: ``dagster asset materialize -m <module> --select '*'`` with the
      peer's Dagster, on the instance at ``DAGSTER_HOME``, with the Definitions'
      default executor (dagster-sqlmesh sets none, so Dagster's multiprocess
      default: one step process for the single op).
    - ``peer-python``: ``python -m <module>``, which materializes everything in
      process on an ephemeral instance and prints ``{"ok": ..., "assets": N}``.

    The caller must set, besides the Workspace environment (``WAREHOUSE_PATH``,
    ``DAGSTER_HOME``, ``SQLMESH_PROJECT_DIR``, ``SQLMESH__DISABLE_ANONYMIZED_ANALYTICS``),
    ``PYTHONPATH=<module_dir>`` so that the module imports from any working directory
    (see :func:`peer_env`). ``DAGSTER_HOME`` must exist for ``peer-cli``.
    """
    del module_dir  # found through PYTHONPATH, see peer_env
    return {
        "peer-cli": [str(peer.dagster), "asset", "materialize", "-m", module, "--select", "*"],
        "peer-python": [str(peer.python), "-m", module],
    }


def peer_env(base: dict[str, str], module_dir: Path) -> dict[str, str]:
    """``base`` (a Workspace's env) with the definitions module importable."""
    return {**base, "PYTHONPATH": str(module_dir)}
