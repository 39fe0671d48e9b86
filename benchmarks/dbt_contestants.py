"""The dbt contestants: ``dbt-build`` (bare dbt) and ``dagster-dbt`` (dbt through Dagster).

They build the benchmark's model graph (workloads.py) as a dbt project with
``dbt-duckdb``, in the same DuckDB file the SQLMesh contestants write, so the
same check (every ``layer_<L>.model_<i>`` exists and has rows) applies:

- the seed ``model_0`` is a dbt seed of the same CSV in the synthetic workload
  (column types as the SQLMesh SEED model declares them) and a table model with
  the same ``range()`` query in the realistic one;
- every other model is ``materialized='table'`` in schema ``layer_<L>``, with the
  same query as the SQLMesh model and ``ref()`` for its parents. A SQLMesh FULL
  model is a table (plus a view in front of it), so both build one table per
  model. A ``generate_schema_name`` macro uses the configured schema as is
  (dbt's default would prefix it with the target's schema);
- ``threads: 1``, as SQLMesh's DuckDB connection runs one task at a time
  (``concurrent_tasks`` defaults to 1); DuckDB itself uses every core for both.

``dagster-dbt`` is wired as dagster-dbt's documentation shows: a ``DbtProject``,
``prepare_if_dev()``, one ``@dbt_assets`` definition over its manifest whose
body streams ``dbt.cli(["build"], context=context)``, and ``Definitions`` with a
``DbtCliResource``. ``prepare_if_dev()`` only parses under ``dagster dev``, so the
benchmark runs ``dbt parse`` once per project before any timed run (untimed):
the manifest exists, as it would after a deployment's build step. No executor
is set (as in the documentation): Dagster's multiprocess default runs the one
op in one step process.

Both get their own venv (``<workdir>/dbt-venv``) with the latest dbt-duckdb and
dagster-dbt and DuckDB pinned to the baked project's version when that resolves.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from venvs import ToolVenv, installed_versions
from workloads import layer_of, model_select, seed_csv

# Not "dbt_<name>": dbt-core imports every top-level module named so on sys.path as a plugin.
DBT_MODULE = "bench_dagster_dbt"
DBT_PYTHON = "3.11"
VERSIONED = ("dagster", "dagster-dbt", "dbt-core", "dbt-duckdb", "duckdb")
PROFILE = "bench"

DEFINITIONS_SOURCE = '''\
"""dagster-dbt wired for the benchmark: every model of the dbt project in one @dbt_assets definition.

Needs DBT_PROJECT_DIR (the dbt project, with profiles.yml next to dbt_project.yml and a
manifest from `dbt parse`) and WAREHOUSE_PATH (read by profiles.yml).
"""

import os
from pathlib import Path

from dagster import AssetExecutionContext, Definitions
from dagster_dbt import DbtCliResource, DbtProject, dbt_assets

project = DbtProject(
    project_dir=Path(os.environ["DBT_PROJECT_DIR"]),
    profiles_dir=Path(os.environ["DBT_PROJECT_DIR"]),
)
project.prepare_if_dev()


@dbt_assets(manifest=project.manifest_path)
def dbt_project_assets(context: AssetExecutionContext, dbt: DbtCliResource):
    yield from dbt.cli(["build"], context=context).stream()


defs = Definitions(assets=[dbt_project_assets], resources={"dbt": DbtCliResource(project_dir=project)})
'''

PROJECT_YML = """\
name: bench
version: "1.0"
config-version: 2
profile: {profile}
model-paths: ["models"]
seed-paths: ["seeds"]
macro-paths: ["macros"]
seeds:
  bench:
    +schema: layer_0
    +column_types:
      id: integer
      grp: integer
      amount: double
      label: varchar
"""

PROFILES_YML = """\
{profile}:
  target: local
  outputs:
    local:
      type: duckdb
      path: "{{{{ env_var('WAREHOUSE_PATH') }}}}"
      threads: 1
"""

# The configured schema as is: layer_<L>, the names the SQLMesh views have.
SCHEMA_MACRO = """\
{% macro generate_schema_name(custom_schema_name, node) -%}
  {{ custom_schema_name if custom_schema_name else target.schema }}
{%- endmacro %}
"""


class DbtEnv(ToolVenv):
    """The dbt contestants' own virtual environment and what got installed into it."""

    @property
    def dbt(self) -> Path:
        return self.root / "bin" / "dbt"


def install_dbt(workdir: Path, uv: Path, duckdb_version: str | None, python: str = DBT_PYTHON) -> DbtEnv:
    """Create ``<workdir>/dbt-venv`` afresh with the latest dagster-dbt and dbt-duckdb.

    DuckDB is pinned to ``duckdb_version`` (the baked project's: the same engine,
    and a file the verification can open); if that does not resolve, the pin is
    dropped. If a package can only be built from source and the build fails
    (dbt-core 1.12.6 needs dbt-core-experimental-parser, published as a source
    distribution whose build downloads a binary), uv is asked for wheels only,
    which picks the newest releases that have them. ``versions`` records what was
    installed and, under ``note``, any fallback taken.
    """
    root = workdir / "dbt-venv"
    env = DbtEnv(root=root)
    notes = []
    attempts = []
    pins = [f"duckdb=={duckdb_version}"] if duckdb_version else []
    for pin in (pins, []) if pins else ([],):
        attempts += [(pin, []), (pin, ["--only-binary", ":all:"])]
    for pin, extra in attempts:
        subprocess.run(
            [str(uv), "venv", "--quiet", "--clear", "--python", python, str(root)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        result = subprocess.run(
            [
                str(uv),
                "pip",
                "install",
                "--quiet",
                "--compile-bytecode",
                "--python",
                str(env.python),
                *extra,
                "dagster-dbt",
                "dbt-duckdb",
                "dbt-core",
                *(pin or ["duckdb"]),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
        if result.returncode == 0:
            break
        lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
        reason = next((line for line in lines if "because" in line or "error" in line.lower()), "")
        notes.append(f"install with {' '.join(pin + extra) or 'no pin'} failed: {reason[:300]}")
    else:
        raise RuntimeError("could not install dagster-dbt and dbt-duckdb: " + "; ".join(notes))
    versions = installed_versions(env.python, VERSIONED)
    if extra:
        notes.append("installed from wheels only (--only-binary :all:)")
    if duckdb_version and not pin:
        notes.append(f"DuckDB not pinned to {duckdb_version}")
    if notes:
        versions["note"] = "; ".join(notes)
    return DbtEnv(root=root, versions=versions)


def write_dbt_definitions(target_dir: Path) -> str:
    """Write the dagster-dbt definitions module into ``target_dir``; return its module name."""
    target_dir.mkdir(parents=True, exist_ok=True)
    (target_dir / f"{DBT_MODULE}.py").write_text(DEFINITIONS_SOURCE)
    return DBT_MODULE


def generate_dbt_project(target: Path, models: int, workload: str) -> None:
    """Write the benchmark's graph as a dbt project at ``target`` (profiles.yml included)."""
    shutil.rmtree(target, ignore_errors=True)
    (target / "macros").mkdir(parents=True)
    (target / "dbt_project.yml").write_text(PROJECT_YML.format(profile=PROFILE))
    (target / "profiles.yml").write_text(PROFILES_YML.format(profile=PROFILE))
    (target / "macros" / "generate_schema_name.sql").write_text(SCHEMA_MACRO)
    for index in range(models):
        if index == 0 and workload == "synthetic":
            (target / "seeds").mkdir()
            (target / "seeds" / "model_0.csv").write_text(seed_csv())
            continue
        path = target / "models" / f"layer_{layer_of(index)}" / f"model_{index}.sql"
        path.parent.mkdir(parents=True, exist_ok=True)
        header = f"{{{{ config(materialized='table', schema='layer_{layer_of(index)}') }}}}\n\n"
        path.write_text(header + model_select(index, workload, lambda p: f"{{{{ ref('model_{p}') }}}}"))


def dbt_env(dbt: DbtEnv, base: dict[str, str], project_dir: Path, module_dir: Path) -> dict[str, str]:
    """``base`` (a Workspace's env) with the dbt project, its profile and the definitions module.

    The venv's bin comes first on PATH, as in an activated venv: DbtCliResource runs ``dbt`` from PATH.
    """
    return {
        **base,
        "PATH": f"{dbt.root / 'bin'}:{base.get('PATH', '')}",
        "DBT_PROJECT_DIR": str(project_dir),
        "DBT_PROFILES_DIR": str(project_dir),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "PYTHONPATH": str(module_dir),
    }


def dbt_commands(dbt: DbtEnv, project_dir: Path) -> dict[str, list[str]]:
    """The command lines of the two dbt contestants (run with :func:`dbt_env`)."""
    return {
        "dbt-build": [str(dbt.dbt), "build", "--project-dir", str(project_dir)],
        "dagster-dbt": [str(dbt.dagster), "asset", "materialize", "-m", DBT_MODULE, "--select", "*"],
    }


def dbt_parse(dbt: DbtEnv, env: dict[str, str], project_dir: Path) -> None:
    """Write target/manifest.json (and dbt's partial-parse file) before any timed run."""
    subprocess.run(
        [str(dbt.dbt), "parse", "--project-dir", str(project_dir)],
        check=True,
        env=env,
        cwd=project_dir,
        stdout=subprocess.DEVNULL,
    )
