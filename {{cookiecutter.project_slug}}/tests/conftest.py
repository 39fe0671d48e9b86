"""Keep tests away from your own warehouse and Dagster history.

The environment is set before anything imports the definitions, because the
SQLMesh config reads WAREHOUSE_PATH when the project is loaded.
"""

import os
import tempfile
from pathlib import Path

_scratch = Path(tempfile.mkdtemp(prefix="sqlmesh-dagster-tests-"))
os.environ["WAREHOUSE_PATH"] = str(_scratch / "warehouse.duckdb")
os.environ["DAGSTER_HOME"] = str(_scratch / "dagster_home")
(_scratch / "dagster_home").mkdir()
(_scratch / "dagster_home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
