"""Freshness from crons: each asset overdue in the UI once its model's cron period passes without a run.

Loaded from real ``defs.yaml`` files (Dagster's sandbox for component tests).
"""

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

from component_sandbox import duckdb_project, load_components
from dagster import AssetKey, Definitions

MODELS = {
    "hourly": "MODEL (name shop.hourly, kind FULL, cron '@hourly'); SELECT 1 AS id",
    "weekdays": "MODEL (name shop.weekdays, kind FULL, cron '0 6 * * 1-5', cron_tz 'Europe/Paris');\n"
    "SELECT 1 AS id",
    "monthly": "MODEL (name shop.monthly, kind FULL, cron '@monthly'); SELECT 1 AS id",
    "daily": "MODEL (name shop.daily, kind FULL); SELECT 1 AS id",  # SQLMesh's default cron
}
EXPECTED = {  # cron, timezone, the window: one period of the cron (its shortest)
    "hourly": ("@hourly", "UTC", timedelta(hours=1)),
    "weekdays": ("0 6 * * 1-5", "Europe/Paris", timedelta(days=1)),
    "monthly": ("@monthly", "UTC", timedelta(days=28)),
    "daily": ("@daily", "UTC", timedelta(days=1)),
}


def load(root: Path, **attributes: object) -> Iterator[Definitions]:
    """The definitions of a defs folder with one ``defs.yaml`` for a project of ``MODELS``."""
    yield from load_components(duckdb_project(root, MODELS), {"shop": attributes})


def test_each_asset_has_the_freshness_of_its_models_cron(tmp_path):
    (defs,) = load(tmp_path)
    graph = defs.resolve_asset_graph()

    for name, (cron, timezone, window) in EXPECTED.items():
        policy = graph.get(AssetKey(["shop", name])).freshness_policy
        assert (policy.deadline_cron, policy.timezone, policy.lower_bound_delta) == (cron, timezone, window)


def test_freshness_from_cron_false_gives_none(tmp_path):
    (defs,) = load(tmp_path, freshness_from_cron=False)
    graph = defs.resolve_asset_graph()

    assert [graph.get(key).freshness_policy for key in graph.materializable_asset_keys] == [None] * len(
        MODELS
    )


def test_models_with_the_same_cron_share_one_policy_built_once(tmp_path):
    """Dagster samples a thousand ticks of a cron to build its policy: one build per cron, not per model."""
    twice = {**MODELS, "daily_too": "MODEL (name shop.daily_too, kind FULL); SELECT 2 AS id"}
    (defs,) = load_components(duckdb_project(tmp_path, twice), {"shop": {}})
    graph = defs.resolve_asset_graph()

    daily = graph.get(AssetKey(["shop", "daily"])).freshness_policy
    assert graph.get(AssetKey(["shop", "daily_too"])).freshness_policy is daily
    assert graph.get(AssetKey(["shop", "hourly"])).freshness_policy is not daily
