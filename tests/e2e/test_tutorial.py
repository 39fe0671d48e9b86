"""The generated tutorial, followed step by step: every command run, every stated result checked.

The tutorial's shell blocks run in order, as written, in a bash shell: the
first in a folder where the template sits as `cookiecutter-dagster-sqlmesh`
(answering every question with Enter), `make dev` as a server for the whole
walk-through, the others in the baked project. What the UI steps do (the
re-execution from failure, reloading definitions) goes through the same
Dagster APIs the UI calls. The tables the tutorial states are parsed and
compared with the real runs.

Where the tutorial shows a picture of the UI, docs/screenshots.py photographs
the page at that step with headless Chromium (`make screenshots` takes the
same pictures, following the same steps, in a bake of its own).
"""

import contextlib
import json
import os
import re
import subprocess
from datetime import date, timedelta
from pathlib import Path

import pytest
from helpers.dagster_dev import free_port, graphql, serving
from helpers.project import TEMPLATE_BIN, probe
from helpers.screenshots import assert_a_real_picture, screenshot_script

pytestmark = pytest.mark.e2e

TEMPLATE_DIR = Path(__file__).resolve().parents[2]
PACKAGE = "shop_analytics"


def shell_blocks(markdown: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", markdown, re.DOTALL)


def table(markdown: str, marker: str) -> list[list[str]]:
    """The rows of the markdown table that follows ``<!-- tutorial:MARKER -->``."""
    after = markdown.split(f"<!-- tutorial:{marker} -->", 1)[1].lstrip("\n")
    rows = []
    for line in after.splitlines():
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows[2:]  # without the header and its rule


def bash(script: str, cwd: Path, env: dict[str, str], stdin: str = "", expect_ok: bool = True) -> str:
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        check=False,
        cwd=cwd,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = result.stdout + result.stderr
    assert (result.returncode == 0) == expect_ok, f"{script}\nexited {result.returncode}\n{output[-5000:]}"
    return output


def outcome(summary: dict, asset: str) -> str:
    """An asset's outcome in a run, in the tutorial's words."""
    status = summary["steps"].get(asset.replace("/", "__"))
    materialized = asset in summary["materialized"]
    if asset not in summary["selected"]:
        assert status is None and not materialized
        return "not in this run"
    if status is None:
        assert not materialized
        return "not executed"
    if status == "STEP_FAILURE":
        return "materialized, then failed" if materialized else "failed"
    assert status == "STEP_SUCCESS" and materialized, (asset, status)
    return "materialized"


def check_outcome(result: dict) -> str:
    if result["passed"]:
        return "passed"
    return f"failed, {result['severity']}, {result['failing_rows']} rows"


def assert_outcomes(rows: list[list[str]], summary: dict, all_assets: set[str]) -> None:
    listed = set()
    for asset, expected, *why in rows:
        if asset.startswith("every other asset"):
            others = all_assets - listed
            assert len(others) == int(re.search(r"\((\d+)\)", asset).group(1))
            assert {outcome(summary, other) for other in others} == {expected}
            continue
        listed.add(asset)
        assert outcome(summary, asset) == expected, asset
        quoted = re.findall(r"`([^`]+)`", why[0]) if why else []
        if expected == "failed" and quoted:
            assert quoted[0] in summary["failures"][asset.replace("/", "__")]


def warehouse_rows(project: Path, env: dict[str, str], sql: str) -> list[tuple]:
    """Rows of a query against the project's DuckDB warehouse, with its own Python and DuckDB."""
    script = (
        "import duckdb, json, sys; "
        "rows = duckdb.connect('data/warehouse.duckdb', read_only=True).sql(sys.argv[1]).fetchall(); "
        "print(json.dumps([[str(value) for value in row] for row in rows]))"
    )
    output = subprocess.run(
        [".venv/bin/python", "-c", script, sql],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return [tuple(row) for row in json.loads(output.stdout)]


def days(first: str, last: str) -> list[str]:
    start, end = date.fromisoformat(first), date.fromisoformat(last)
    return [(start + timedelta(days=n)).isoformat() for n in range((end - start).days + 1)]


def test_the_tutorial_as_a_newcomer_follows_it(tmp_path, isolated_env):
    workdir = tmp_path / "work"
    workdir.mkdir()
    (workdir / "cookiecutter-dagster-sqlmesh").symlink_to(TEMPLATE_DIR)
    env = {
        **{name: value for name, value in os.environ.items() if name != "DAGSTER_HOME"},
        "PATH": f"{TEMPLATE_BIN}{os.pathsep}{os.environ['PATH']}",
        "PORT": str(free_port()),
    }
    template_tutorial = (TEMPLATE_DIR / "{{cookiecutter.project_slug}}" / "docs" / "tutorial.md").read_text()
    bake_block = shell_blocks(template_tutorial)[0].replace(
        "{{ cookiecutter.project_slug }}", "shop-analytics"
    )

    # 1. Bake, pressing Enter at every question.
    bash(bake_block, workdir, env, stdin="\n" * 40)
    project = workdir / "shop-analytics"
    tutorial = (project / "docs" / "tutorial.md").read_text()
    blocks = shell_blocks(tutorial)
    assert blocks[0] == bake_block and blocks[1].strip() == "make dev"
    project_env = {**env, "DAGSTER_HOME": str(project / "dagster_home")}

    screenshots = screenshot_script()
    pictures = tmp_path / "images"
    pictures.mkdir()
    with (
        serving(["bash", "-c", blocks[1]], project, env, int(env["PORT"]), timeout=300),
        contextlib.closing(screenshots.Browser(tmp_path / "chromium"))
        if screenshots
        else contextlib.nullcontext() as browser,
    ):
        port = int(env["PORT"])
        # 2. The asset graph: groups and their sizes.
        nodes = graphql(port, "{ assetNodes { groupName assetKey { path } } }")["assetNodes"]
        all_assets = {"/".join(node["assetKey"]["path"]) for node in nodes}
        groups = {group: int(count) for group, count in table(tutorial, "groups")}
        assert {g: sum(n["groupName"] == g for n in nodes) for g in groups} == groups
        assert sum(groups.values()) == len(nodes)

        # 3-4. Materialize everything, and read the outcome.
        bash(blocks[2], project, env, expect_ok=False)  # the demo fails on purpose
        first = probe(project, PACKAGE, project_env, "--summarize", "latest")
        assert first["executions"] == 1 and first["lock_errors"] == 0
        assert_outcomes(table(tutorial, "first-run"), first, all_assets)
        checks = dict(first["checks"])
        for name, expected in table(tutorial, "first-run-checks"):
            if name.startswith("every other check"):
                assert len(checks) == int(re.search(r"\((\d+)\)", name).group(1))
                assert {check_outcome(result) for result in checks.values()} == {expected}
            else:
                assert check_outcome(checks.pop(name.replace(": ", ":"))) == expected, name
        if browser:
            taken = screenshots.photograph_the_first_run(browser, port, pictures)

        # 5. Look at the data.
        output = bash(blocks[3], project, env)
        stated = dict(table(tutorial, "row-counts"))
        assert re.search(rf"\b{stated['marts.customers']}\b", output)
        for name, rows in stated.items():
            count = bash(
                f".venv/bin/python -c \"import duckdb; print(duckdb.connect('data/warehouse.duckdb', "
                f"read_only=True).sql('SELECT COUNT(*) FROM {name}').fetchone()[0])\"",
                project,
                env,
            )
            assert count.strip() == rows, name

        # 6-7. Fix the failing model, reload, re-execute from failure.
        bash(blocks[4], project, env)
        reload = graphql(
            port,
            'mutation { reloadRepositoryLocation(repositoryLocationName: "shop_analytics") { __typename } }',
        )
        assert reload["reloadRepositoryLocation"]["__typename"] == "WorkspaceLocationEntry"
        retry = probe(project, PACKAGE, project_env, "--reexecute-from-failure", first["run_id"])
        assert retry["executions"] == 1
        expected_retry = table(tutorial, "reexecution")
        assert_outcomes(expected_retry, retry, all_assets)
        assert set(retry["steps"]) <= {asset.replace("/", "__") for asset, _ in expected_retry}

        # 8. A subset: up to date, then forced.
        bash(blocks[5], project, env)
        subset = probe(project, PACKAGE, project_env, "--summarize", "latest")
        assert subset["materialized"]["marts/customers"]["sqlmesh/status"] == (
            "up to date, not evaluated in this run"
        )
        assert subset["evaluated"] == {}
        bash(blocks[6], project, env)
        forced = probe(project, PACKAGE, project_env, "--summarize", "latest")
        assert forced["evaluated"] == {"warehouse.marts.customers": 1}

        # 9. A model of your own.
        bash(blocks[7], project, env)
        own = probe(project, PACKAGE, project_env, "--summarize", "latest")
        assert own["materialized"]["marts/top_customers"]["dagster/row_count"] == 5
        graphql(
            port,
            'mutation { reloadRepositoryLocation(repositoryLocationName: "shop_analytics") { __typename } }',
        )
        nodes = graphql(port, "{ assetNodes { groupName assetKey { path } dependencyKeys { path } } }")[
            "assetNodes"
        ]
        new = next(n for n in nodes if n["assetKey"]["path"] == ["marts", "top_customers"])
        assert new["groupName"] == "marts"
        assert new["dependencyKeys"] == [{"path": ["marts", "customers"]}]

        # 10. Days as partitions: a week in one run, then one day again.
        bash(blocks[8], project, env)
        week = probe(project, PACKAGE, project_env, "--summarize", "latest")
        assert (week["status"], week["executions"]) == ("SUCCESS", 1)
        assert week["evaluated"] == {"warehouse.web.page_views": 1, "warehouse.web.daily_traffic": 1}
        stated = table(tutorial, "backfill")
        for asset, partitions, rows in stated:
            assert week["partitions"][asset] == days(*partitions.split(" to "))
            (count,) = warehouse_rows(project, env, f"SELECT COUNT(*) FROM {asset.replace('/', '.')}")
            assert count == (rows,), asset
        # What the Partitions tab counts: the week, and no other day.
        nodes = graphql(port, "{ assetNodes { assetKey { path } partitionStats { numMaterialized } } }")
        materialized_days = {
            "/".join(node["assetKey"]["path"]): node["partitionStats"]["numMaterialized"]
            for node in nodes["assetNodes"]
            if node["partitionStats"]
        }
        assert materialized_days == {asset: 7 for asset, _, _ in stated}
        loaded = "SELECT CAST(view_date AS TEXT), CAST(MAX(loaded_at) AS TEXT) FROM {} GROUP BY 1 ORDER BY 1"
        before = {
            asset: dict(warehouse_rows(project, env, loaded.format(asset.replace("/", "."))))
            for asset, *_ in stated
        }
        bash(blocks[9], project, env)
        again = probe(project, PACKAGE, project_env, "--summarize", "latest")
        assert (again["status"], again["executions"]) == ("SUCCESS", 1)
        changed_days = [day for day, change in table(tutorial, "restate") if change == "changed"]
        assert again["partitions"] == {asset: changed_days for asset, *_ in stated}
        for asset, *_ in stated:
            after = dict(warehouse_rows(project, env, loaded.format(asset.replace("/", "."))))
            assert after.keys() == before[asset].keys()
            assert [day for day in after if after[day] != before[asset][day]] == changed_days, asset

        # 11. A change tried in dev, reviewed with what it does to the rows, promoted.
        bash(blocks[10], project, env)
        dev = probe(project, PACKAGE, project_env, "--summarize", "latest")
        assert dev["status"] == "SUCCESS"
        assert {metadata["sqlmesh/environment"] for metadata in dev["materialized"].values()} == {"dev"}
        report = bash(blocks[11], project, env)
        diff_lines = [line for line in report.splitlines() if line.startswith("| `")]
        stated = table(tutorial, "data-diff")
        for model, in_dev, in_prod, added, removed, changed in stated:
            row = f"| `{model}` | {in_dev} | {in_prod} | {added} | {removed} | {changed} |"
            assert any(line.startswith(row) for line in diff_lines), (row, diff_lines)
        assert len([line for line in diff_lines if line.count("|") == 9]) == len(stated), diff_lines
        if browser:
            taken.append(screenshots.photograph_the_plan_report(browser, port, pictures))
        bash(blocks[12], project, env)
        promoted = probe(project, PACKAGE, project_env, "--summarize", "latest")
        assert (promoted["status"], promoted["evaluated"]) == ("SUCCESS", {})
    assert len(blocks) == 13
    if screenshots:
        shown = re.findall(r"\]\(images/([^)]+)\)", tutorial)
        assert (
            sorted(png.name for png in taken) == sorted(shown) == sorted(p.name for p in pictures.iterdir())
        )
        for png in taken:
            assert_a_real_picture(png)
