"""Retake the Dagster UI screenshots that the generated project's docs show.

    .venv/bin/python docs/screenshots.py [--output DIR]      (or: make screenshots)

The pictures in ``{{cookiecutter.project_slug}}/docs/images/`` must show what a
user really sees after following the tutorial, so this script does exactly
that, in a temporary folder: it bakes the default template (the demo sample),
runs ``make install`` and ``make run`` (the main job, which fails on purpose),
starts ``make dev`` and photographs two pages with headless Chromium:

* ``asset-graph.png``: the global asset lineage filtered as the tutorial's
  first step filters it (the partitioned assets left out), every group
  expanded, with the materialized assets in green and the failed ones in red;
* ``run-failed-and-skipped.png``: the page of that run, its event log filtered
  to the two failing steps and the steps Dagster did not execute after them.

It needs ``/usr/bin/chromium`` (Debian: ``apt-get install chromium``) and
nothing else beyond the template's own ``.venv``: Chromium is driven from its
command line, and the page is only captured once its DOM shows the content the
picture is meant to show. Chromium only ever talks to 127.0.0.1. Nothing is
left behind: no process, no temporary folder, no Cookiecutter replay file.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

TEMPLATE_DIR = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = TEMPLATE_DIR / "{{cookiecutter.project_slug}}" / "docs" / "images"
# The template's .venv/bin: cookiecutter, and the uv that the project's `make install` picks up.
TEMPLATE_BIN = Path(sys.executable).parent
CHROMIUM = Path("/usr/bin/chromium")
PROJECT_SLUG = "shop-analytics"  # the default answers' slug

# Settings of the generated project that would change what the demo does; the
# pictures show the defaults.
PROJECT_SETTINGS = ("WAREHOUSE_PATH", "SQLMESH_PROJECT_DIR", "DAGSTER_EXECUTOR", "DAGSTER_HOME")

# The steps that fail in the demo; the run page shows them and what sits below them.
# The run's log is filtered to the failing cast and the steps not executed below it: its
# message fills the event table's row, which cuts it before the stack trace (whose file
# paths would show where the screenshots were taken).
LOGGED_STEP = "failure_demo__orders_with_bad_cast"
GROUPS = ("landing", "raw", "staging", "marts", "failure_demo")
# What the first run materializes (make run's default selection): the partitioned assets wait
# for a range of days, so the graph pictured after it leaves them out, as the tutorial does.
FIRST_RUN = "not tag:dagster_partitioned"

# Virtual milliseconds Chromium lets the page run before capturing it. Virtual
# time waits for network requests, not for everything the page does in between
# (a first visit once caught a spinner, another grey nodes), so the DOM is
# checked and a later attempt waits longer.
BUDGETS_MS = (15_000, 30_000, 60_000)

# How the asset graph, zoomed out, draws a node and colours it: green materialized,
# red failed, something else (grey) while its status is still loading.
NODE_BOX = re.compile(r'class="[^"]*minimalAssetNodeBox')
NODE_COLOUR = re.compile(r"--minimal-bg: var\(--color-background-([a-z-]+)\)")

# Keep every request on the loopback interface: no host name resolves (except
# the literal 127.0.0.1 the UI is served on), and anything that would still go
# out is sent to a closed local port. Chromium bypasses proxies for loopback.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",  # runs as root in containers
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-pings",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--hide-scrollbars",
    "--force-color-profile=srgb",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--proxy-server=http://127.0.0.1:9",
)


def load_dagster_dev() -> ModuleType:
    """Import tests/helpers/dagster_dev.py: one way of serving `make dev` and stopping it cleanly, shared."""
    path = TEMPLATE_DIR / "tests" / "helpers" / "dagster_dev.py"
    spec = importlib.util.spec_from_file_location("dagster_dev", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


dagster_dev = load_dagster_dev()


@dataclass(frozen=True)
class Shot:
    """One picture: which page, at which window size, and what proves the page has finished loading.

    The asset graph draws its nodes before it knows their status (they are
    grey until then), so for it the names are not enough: every node must
    also have its status colour.
    """

    file_name: str
    path: str
    window: tuple[int, int]
    must_show: tuple[str, ...]
    every_asset_coloured: bool = False


def say(message: str) -> None:
    print(f"screenshots: {message}", file=sys.stderr, flush=True)


def run(command: list[str], cwd: Path, env: dict[str, str], check: bool = True) -> int:
    """Run a command quietly; on an unexpected failure, show its output and stop."""
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        sys.stderr.write(result.stdout[-5000:] + result.stderr[-5000:])
        raise SystemExit(f"{' '.join(command)} exited {result.returncode} in {cwd}")
    return result.returncode


def project_env(project: Path, tmp: Path) -> dict[str, str]:
    """The environment of a user who just baked the project, with uv on PATH and scratch in ``tmp``."""
    env = {name: value for name, value in os.environ.items() if name not in PROJECT_SETTINGS}
    env["PATH"] = f"{TEMPLATE_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["DAGSTER_HOME"] = str(project / "dagster_home")
    # Cookiecutter leaves its rendered hooks in the temp folder; so may Chromium and Dagster.
    env["TMPDIR"] = str(tmp)
    return env


def bake(workdir: Path, env: dict[str, str]) -> Path:
    """Bake the default answers into ``workdir`` with a throwaway Cookiecutter config (no replay in HOME)."""
    config = workdir / "cookiecutter-config.yaml"
    settings = {"cookiecutters_dir": str(workdir / "cc"), "replay_dir": str(workdir / "cc")}
    config.write_text(json.dumps(settings) + "\n")  # JSON is valid YAML
    command = [str(TEMPLATE_BIN / "cookiecutter"), "--no-input", "--config-file", str(config)]
    run([*command, "--output-dir", str(workdir), str(TEMPLATE_DIR)], workdir, env)
    return workdir / PROJECT_SLUG


def wait_for_code_location(port: int, timeout: float = 120) -> None:
    """`dagster dev` answers before the project's definitions are loaded; pages need them."""
    query = (
        "{ workspaceOrError { ... on Workspace"
        " { locationEntries { loadStatus locationOrLoadError { __typename } } } } }"
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        entries = dagster_dev.graphql(port, query)["workspaceOrError"]["locationEntries"]
        if entries and all(entry["loadStatus"] == "LOADED" for entry in entries):
            errors = [e for e in entries if e["locationOrLoadError"]["__typename"] != "RepositoryLocation"]
            if errors:
                raise SystemExit("the project's code location failed to load; see `make dev` in it")
            return
        time.sleep(1)
    raise SystemExit(f"the code location did not load within {timeout} s")


def the_failed_run(port: int) -> str:
    """The id of the one run `make run` made; it must have failed, as the demo does on purpose."""
    runs = dagster_dev.graphql(port, "{ runsOrError { ... on Runs { results { runId status } } } }")
    results = runs["runsOrError"]["results"]
    if [result["status"] for result in results] != ["FAILURE"]:
        raise SystemExit(f"expected the one failed run of the demo, found {results}")
    return results[0]["runId"]


def shots(run_id: str) -> list[Shot]:
    """The pictures, with URLs that need no clicking: the UI keeps these settings in the query string."""
    expanded = ",".join(f"global@global:{group}" for group in GROUPS)
    step_query = f"name:{LOGGED_STEP}+"  # the step and everything below it
    return [
        Shot(
            "asset-graph.png",
            # Filtered as the tutorial's first step has it (the UI keeps the filter in the path).
            f"/asset-groups~{urllib.parse.quote(FIRST_RUN)}/?"
            + urllib.parse.urlencode({"expanded": expanded}, safe="@:,"),
            # The graph is fitted to the width; this height leaves room for all of it.
            (1600, 1700),
            ("revenue_targets", "stg_orders", "daily_revenue", "bad_cast_summary", "healthy_neighbour"),
            every_asset_coloured=True,
        ),
        Shot(
            "run-failed-and-skipped.png",
            f"/runs/{run_id}?" + urllib.parse.urlencode({"logs": f"query:{step_query}"}),
            (1600, 1300),
            ("Errored (2)", "Not executed (3)", "STEP_FAILURE", "Not executing", "Conversion Error"),
        ),
    ]


def chromium(url: str, png: Path, window: tuple[int, int], budget_ms: int, profile: Path) -> str:
    """Capture ``url`` into ``png`` with a fresh profile; return the DOM at that moment.

    Chromium runs in a session of its own so that none of its helper processes
    can outlive it.
    """
    command = [
        str(CHROMIUM),
        *CHROMIUM_FLAGS,
        f"--user-data-dir={profile}",
        f"--window-size={window[0]},{window[1]}",
        f"--virtual-time-budget={budget_ms}",
        f"--screenshot={png}",
        "--dump-dom",
        url,
    ]
    browser = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True
    )
    try:
        dom, _ = browser.communicate(timeout=180)
    finally:
        try:
            os.killpg(browser.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        browser.wait()
    return dom


def still_loading(shot: Shot, dom: str) -> list[str]:
    """What the captured page does not show yet (nothing when it is complete)."""
    missing = [text for text in shot.must_show if text not in dom]
    if shot.every_asset_coloured:
        nodes = len(NODE_BOX.findall(dom))
        colours = NODE_COLOUR.findall(dom)
        if nodes == 0 or sum(colour in ("green", "red") for colour in colours) != nodes:
            missing.append(f"a status colour on each of the {nodes} assets, not {dict(Counter(colours))}")
    return missing


def take(shot: Shot, base_url: str, output: Path, scratch: Path) -> None:
    """Take one picture, again with more time if the page had not finished loading."""
    png = output / shot.file_name
    for attempt, budget_ms in enumerate(BUDGETS_MS, start=1):
        profile = Path(tempfile.mkdtemp(prefix="chromium-", dir=scratch))
        dom = chromium(base_url + shot.path, png, shot.window, budget_ms, profile)
        shutil.rmtree(profile, ignore_errors=True)
        missing = still_loading(shot, dom)
        if png.is_file() and not missing:
            return
        say(f"{shot.file_name}: attempt {attempt} caught the page still loading (no {missing})")
    raise SystemExit(f"{shot.file_name}: the page never showed {missing}: {base_url + shot.path}")


def optimise(png: Path) -> None:
    """Shrink the PNG losslessly when optipng is installed (about 15 % smaller); optional."""
    optipng = shutil.which("optipng")
    if optipng:
        subprocess.run([optipng, "-quiet", "-o2", str(png)], check=True)


def take_screenshots(output: Path) -> None:
    """Do what the tutorial does in a throwaway bake, photograph the UI into ``output``, clean up."""
    output.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="screenshots-") as name:
        workdir = Path(name)
        scratch = workdir / "tmp"
        scratch.mkdir()
        env = project_env(workdir / PROJECT_SLUG, scratch)
        say(f"baking the default project into {workdir}")
        project = bake(workdir, env)
        say("make install")
        run(["make", "install"], project, env)
        say("make run (the demo fails on purpose)")
        code = run(["make", "run"], project, env, check=False)
        say(f"make run exited {code}")
        port = dagster_dev.free_port()
        say(f"make dev PORT={port}")
        with dagster_dev.serving(["make", "dev", f"PORT={port}"], project, env, port, timeout=300):
            wait_for_code_location(port)
            dagster_dev.graphql(port, "mutation { setNuxSeen }")  # no "Join the community" dialog
            pictures = shots(the_failed_run(port))
            for shot in pictures:
                say(f"{shot.file_name} <- http://127.0.0.1:{port}{shot.path}")
                take(shot, f"http://127.0.0.1:{port}", output, scratch)
        say("make dev stopped")
    for shot in pictures:
        png = output / shot.file_name
        optimise(png)
        say(f"{png}: {png.stat().st_size // 1024} KB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="folder for the PNGs")
    args = parser.parse_args()
    if not CHROMIUM.exists():
        raise SystemExit(f"{CHROMIUM} is missing: apt-get install chromium")
    started = time.monotonic()
    take_screenshots(args.output.resolve())
    say(f"done in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
