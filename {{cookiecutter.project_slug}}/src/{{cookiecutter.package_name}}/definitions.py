"""The Dagster code location: every SQLMesh model as an asset, executed once per run.

Beside them, the Python assets that write tables SQLMesh reads (``ingestion.py``).
"""

import os
from pathlib import Path

from dagster import Definitions, in_process_executor, multiprocess_executor

from .ingestion import revenue_targets
from .sqlmesh_integration import (
    SQLMeshResource,
    SQLMeshRunResults,
    sqlmesh_assets,
    sqlmesh_automation,
    sqlmesh_environment_jobs,
    sqlmesh_interval_report_jobs,
)
from .warehouse import WarehouseResource

SQLMESH_PROJECT_DIR = Path(
    os.environ.get("SQLMESH_PROJECT_DIR", Path(__file__).resolve().parents[2] / "sqlmesh_project")
)

# Both executors are correct; in-process is the default because it loads the
# SQLMesh project once per run instead of once per step (docs/adr/0002 has
# the measurements). Set DAGSTER_EXECUTOR=multiprocess to run steps apart.
EXECUTORS = {"in_process": in_process_executor, "multiprocess": multiprocess_executor}

sqlmesh = SQLMeshResource(
    project_dir=str(SQLMESH_PROJECT_DIR),
    # The SQLMesh environment every run builds and reads: `make dev ENV=dev` tries a change in
    # `dev` (views in marts__dev, ...) while prod's views keep showing what they showed.
    environment=os.environ.get("SQLMESH_ENVIRONMENT", "prod"),
    # Deployments that apply SQLMesh plans from CI set SQLMESH_AUTO_PLAN=false.
    auto_plan=os.environ.get("SQLMESH_AUTO_PLAN", "true").lower() != "false",
)
assets = sqlmesh_assets(sqlmesh)
# What starts runs on their own, off until you turn it on in the UI (Automation): "schedule" is one
# schedule at the most frequent model cron; "conditions" is a condition per model from its own cron,
# evaluated by one sensor (docs/adr/0008). The ingestion runs with the models that read it.
automation = sqlmesh_automation(
    sqlmesh, assets, os.environ.get("SQLMESH_AUTOMATION", "schedule"), upstream=[revenue_targets]
)

defs = Definitions(
    assets=automation.assets,
    schedules=automation.schedules,
    sensors=automation.sensors,
    # The plan report and promotion of an environment (docs/deployment.md), and, with
    # partitioned models, a job that records the intervals SQLMesh filled outside Dagster.
    jobs=[*sqlmesh_environment_jobs(assets), *sqlmesh_interval_report_jobs(assets)],
    resources={
        "sqlmesh": sqlmesh,
        "sqlmesh_results": SQLMeshRunResults(),
        "warehouse": WarehouseResource(project_dir=sqlmesh.project_dir, gateway=sqlmesh.gateway),
    },
    executor=EXECUTORS[os.environ.get("DAGSTER_EXECUTOR", "in_process")],
)
