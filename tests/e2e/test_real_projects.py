"""SQLMesh project features beyond the sample work through Dagster as they do in bare SQLMesh.

Each test adds the feature to a private copy of the starter's SQLMesh project
and runs real Dagster jobs on real DuckDB.
"""

import pytest
from helpers.demo_outcomes import evaluated

pytestmark = pytest.mark.e2e
RESTATE = {"sqlmesh/mode": "restate"}

EMBEDDED = """
MODEL (name staging.kept_orders, kind EMBEDDED);
SELECT order_id, customer_id FROM staging.stg_orders WHERE NOT is_return
"""
# An embedded model reading another embedded model: both are inlined.
EMBEDDED_ON_EMBEDDED = """
MODEL (name staging.kept_order_ids, kind EMBEDDED);
SELECT order_id FROM staging.kept_orders
"""
READS_EMBEDDED = """
MODEL (name marts.kept_order_count, kind FULL);
SELECT COUNT(*) AS kept_orders FROM staging.kept_order_ids
"""
# One file, two models (SQLMesh blueprints): each is its own asset.
BLUEPRINT = """
MODEL (
  name marts.orders_@{status},
  kind FULL,
  blueprints ((status := 'shipped'), (status := 'completed'))
);
SELECT order_id FROM staging.stg_orders WHERE status = @status
"""


def test_embedded_models_are_inlined_and_blueprints_are_one_asset_each(starter_project, tmp_path):
    scratch = starter_project.scratch(tmp_path, copy_sqlmesh_project=True)
    models = scratch.sqlmesh_project / "models"
    (models / "staging" / "kept_orders.sql").write_text(EMBEDDED)
    (models / "staging" / "kept_order_ids.sql").write_text(EMBEDDED_ON_EMBEDDED)
    (models / "marts" / "kept_order_count.sql").write_text(READS_EMBEDDED)
    (models / "marts" / "orders_by_status.sql").write_text(BLUEPRINT)

    # The reader alone, after its upstream tables exist: the plan must carry the embedded parents.
    upstream = scratch.materialize(select=["raw/orders", "staging/stg_orders"])
    assert upstream["status"] == "SUCCESS", upstream["failures"]
    selection = ["marts/kept_order_count", "marts/orders_shipped", "marts/orders_completed"]
    result = scratch.materialize(select=selection)

    assert result["status"] == "SUCCESS", result["failures"]
    assert result["executions"] == 1
    # Embedded models are not assets: only the reader is materialized, with the edge to what they read.
    assert set(result["materialized"]) == set(selection)
    expected = scratch.query("SELECT COUNT(*) FROM staging.stg_orders WHERE NOT is_return")
    assert scratch.query("SELECT kept_orders FROM marts.kept_order_count") == expected
    assert expected[0][0] > 0
    for status in ("shipped", "completed"):
        assert scratch.query(f"SELECT COUNT(*) FROM marts.orders_{status}") == scratch.query(
            f"SELECT COUNT(*) FROM staging.stg_orders WHERE status = '{status}'"
        )


# A source loaded by another tool, declared with audits as SQLMesh projects do.
EXTERNAL_MODELS = """
- name: landing.events
  description: Events loaded by an ingestion tool
  columns:
    event_id: int
    kind: text
  audits:
    - name: not_null
      columns: "[event_id]"
    - name: accepted_values
      column: kind
      is_in: "['click', 'view']"
      blocking: "false"
"""
READS_SOURCE = """
MODEL (name staging.stg_events, kind FULL);
SELECT event_id, kind FROM landing.events
"""
SOURCE_CHECKS = ["landing/events:not_null", "landing/events:accepted_values"]


def load_source(scratch, rows: str) -> None:
    """What an ingestion tool does: (re)write the source table."""
    scratch.execute(
        "CREATE SCHEMA IF NOT EXISTS landing; CREATE OR REPLACE TABLE landing.events AS "
        f"SELECT * FROM (VALUES {rows}) AS t(event_id, kind)"
    )


def test_audits_of_an_external_source_are_checks_run_by_sqlmesh(starter_project, tmp_path):
    scratch = starter_project.scratch(tmp_path, copy_sqlmesh_project=True)
    externals = scratch.sqlmesh_project / "external_models.yaml"
    externals.write_text(externals.read_text() + EXTERNAL_MODELS)  # beside the sample's own
    (scratch.sqlmesh_project / "models" / "staging" / "stg_events.sql").write_text(READS_SOURCE)

    # Clean source: the checks pass, and the model below is built in the same execution.
    load_source(scratch, "(1, 'click'), (2, 'view')")
    clean = scratch.materialize(select=["staging/stg_events"], checks=SOURCE_CHECKS)
    assert clean["status"] == "SUCCESS", clean["failures"]
    assert clean["executions"] == 1
    assert clean["checks"] == {
        "landing/events:not_null": {"passed": True, "severity": "ERROR", "failing_rows": 0},
        "landing/events:accepted_values": {"passed": True, "severity": "WARN", "failing_rows": 0},
    }
    assert set(clean["materialized"]) == {"staging/stg_events"}  # a source is never materialized

    # A broken source: the blocking audit fails its check and stops the model below, as in SQLMesh.
    load_source(scratch, "(1, 'click'), (NULL, 'view'), (3, 'other')")
    broken = scratch.materialize(select=["staging/stg_events"], checks=SOURCE_CHECKS, tags=RESTATE)
    assert broken["checks"] == {
        "landing/events:not_null": {"passed": False, "severity": "ERROR", "failing_rows": 1},
        "landing/events:accepted_values": {"passed": False, "severity": "WARN", "failing_rows": 1},
    }
    assert broken["status"] == "FAILURE"
    assert evaluated(broken) == {}
    assert "staging/stg_events" not in broken["materialized"]
    assert scratch.query("SELECT COUNT(*) FROM staging.stg_events") == [[2]]  # the clean rows, untouched

    # Executed alone (the source's Checks tab): only the audits, nothing evaluated.
    alone = scratch.materialize(checks=["landing/events:accepted_values"])
    assert alone["checks"] == {
        "landing/events:accepted_values": {"passed": False, "severity": "WARN", "failing_rows": 1}
    }
    assert evaluated(alone) == {} and alone["materialized"] == {}
    assert alone["status"] == "SUCCESS"


SIGNAL = '''
import os
from pathlib import Path

from sqlmesh import signal


@signal()
def export_landed(batch, marker_env: str) -> bool:
    """Ready once the export's marker file exists."""
    marker = os.environ.get(marker_env)
    return bool(marker) and Path(marker).exists()
'''
WAITS_ON_SIGNAL = """
MODEL (name marts.exported, kind FULL, signals (export_landed(marker_env := 'EXPORT_MARKER')));
SELECT 1 AS id
"""


def test_a_model_waiting_on_its_signal_says_so_and_runs_once_it_is_ready(starter_project, tmp_path):
    scratch = starter_project.scratch(tmp_path, copy_sqlmesh_project=True)
    (scratch.sqlmesh_project / "signals").mkdir()
    (scratch.sqlmesh_project / "signals" / "__init__.py").write_text(SIGNAL)
    (scratch.sqlmesh_project / "models" / "marts" / "exported.sql").write_text(WAITS_ON_SIGNAL)
    marker = tmp_path / "export.done"
    scratch.extra_env = {"EXPORT_MARKER": str(marker)}

    waiting = scratch.materialize(select=["marts/exported"])
    # Waiting is not failing, and not a materialization either.
    assert waiting["status"] == "SUCCESS" and waiting["materialized"] == {}
    assert evaluated(waiting) == {}
    assert any(
        "SQLMesh did not evaluate marts.exported: it is waiting on its signal 'export_landed'" in warning
        for warning in waiting["warnings"]
    ), waiting["warnings"]

    marker.touch()
    ready = scratch.materialize(select=["marts/exported"])
    assert evaluated(ready) == {"marts.exported": 1}
    assert ready["materialized"]["marts/exported"]["sqlmesh/status"] == "evaluated in this run"
