"""Retake the Dagster UI screenshots that the generated project's docs show.

    .venv/bin/python docs/screenshots.py [--output DIR]      (or: make screenshots)

The pictures in ``{{cookiecutter.project_slug}}/docs/images/`` must show what a
user really sees after following the tutorial, so this script does exactly
that, in a temporary folder: it bakes the default template (the demo sample),
runs ``make install`` and ``make run`` (the main job, which fails on purpose),
starts ``make dev`` and photographs three pages with headless Chromium:

* ``asset-graph.png``: the global asset lineage filtered as the tutorial's
  first step filters it (the partitioned assets left out), every group
  expanded, with the materialized assets in green and the failed ones in red;
* ``run-failed-and-skipped.png``: the page of that run, its event log filtered
  to the two failing steps and the steps Dagster did not execute after them;
* ``plan-report-data-diff.png``: after the tutorial's steps from "Add a
  model of your own" to "Try a change in dev" (their shell blocks, run as
  written), the run of the plan report job with its report open at the data
  diff.

It needs ``/usr/bin/chromium`` (Debian: ``apt-get install chromium``) and
nothing else beyond the template's own ``.venv``: Chromium is driven over the
DevTools protocol on a pipe (``--remote-debugging-pipe``, no port), and a page
is only captured once its DOM shows what the picture is meant to show.
Chromium only ever talks to 127.0.0.1. Nothing is left behind: no process, no
temporary folder, no Cookiecutter replay file.
"""

from __future__ import annotations

import argparse
import base64
import fcntl
import importlib.util
import json
import os
import re
import select
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

# How long a page may take to show what its picture needs (the asset graph's statuses arrive
# last), and how often its DOM is looked at meanwhile.
PAGE_TIMEOUT_S = 180
POLL_S = 0.5
# The demo's tutorial steps that the plan report's picture follows, by their headings' words.
TUTORIAL_STEPS = ("Add a model of your own", "Days as partitions", "Try a change in dev")
PLAN_REPORT_JOB = "sqlmesh_plan_report"

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
    "--remote-debugging-pipe",  # the DevTools protocol on file descriptors 3 and 4, not on a port
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
    also have its status colour. ``click`` names a control to press once the
    page is complete (the plan report opens in a dialog), ``then_show`` what
    must appear after it, and ``scroll_to`` the text the picture centres on.
    """

    file_name: str
    path: str
    window: tuple[int, int]
    must_show: tuple[str, ...]
    every_asset_coloured: bool = False
    click: str = ""
    then_show: tuple[str, ...] = ()
    scroll_to: str = ""


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


def runs_of(port: int) -> list[dict]:
    """Every run the instance has, newest first: id, status and job."""
    query = "{ runsOrError { ... on Runs { results { runId status pipelineName } } } }"
    return dagster_dev.graphql(port, query)["runsOrError"]["results"]


def the_failed_run(port: int) -> str:
    """The id of the one run `make run` made; it must have failed, as the demo does on purpose."""
    results = runs_of(port)
    if [result["status"] for result in results] != ["FAILURE"]:
        raise SystemExit(f"expected the one failed run of the demo, found {results}")
    return results[0]["runId"]


def the_plan_report_run(port: int) -> str:
    """The id of the plan report's run that `make plan ENV=dev` made; it must have succeeded."""
    reports = [result for result in runs_of(port) if result["pipelineName"] == PLAN_REPORT_JOB]
    if [report["status"] for report in reports] != ["SUCCESS"]:
        raise SystemExit(f"expected one successful run of {PLAN_REPORT_JOB}, found {reports}")
    return reports[0]["runId"]


def tutorial_blocks(project: Path, heading_words: str) -> list[str]:
    """The shell blocks of the baked tutorial's step whose heading has ``heading_words``."""
    chapters = re.split(r"^## ", (project / "docs" / "tutorial.md").read_text(), flags=re.MULTILINE)
    chapter = next(chapter for chapter in chapters if heading_words in chapter.splitlines()[0])
    return re.findall(r"```bash\n(.*?)```", chapter, re.DOTALL)


def follow_the_tutorial_to_a_plan_report(project: Path, env: dict[str, str]) -> None:
    """Run the tutorial's steps that end in `make plan ENV=dev`, as written, and stop before promoting."""
    for words in TUTORIAL_STEPS:
        for block in tutorial_blocks(project, words):
            if block.startswith("make promote"):
                return
            say(f"tutorial, {words}: {block.strip().splitlines()[-1]}")
            run(["bash", "-euo", "pipefail", "-c", block], project, env)


def shots(run_id: str) -> list[Shot]:
    """The pictures of the first run, with URLs that need no clicking: the UI keeps these settings in the query string."""
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


def plan_report_shot(run_id: str) -> Shot:
    """The plan report's run with its report open (a dialog), scrolled to the data diff."""
    return Shot(
        "plan-report-data-diff.png",
        f"/runs/{run_id}?" + urllib.parse.urlencode({"logs": "type:STEP_OUTPUT"}),
        (1600, 1300),
        ("[Show Markdown]",),
        click="[Show Markdown]",
        then_show=("Data diff:", "marts.customer_segments", "Changed rows of"),
        scroll_to="Data diff:",
    )


class Browser:
    """Headless Chromium, driven over the DevTools protocol on a pipe.

    ``--remote-debugging-pipe`` makes Chromium read commands from file
    descriptor 3 and answer on 4, each message JSON ended by a NUL byte: no
    port to find, nothing to install. Chromium runs in a session of its own so
    that none of its helper processes can outlive ``close``.
    """

    def __init__(self, profile: Path) -> None:
        commands_read, self._commands = os.pipe()
        self._replies, replies_write = os.pipe()
        # Moved above 9, out of the way of 3 and 4, which bash then points at them (dash takes
        # one-digit descriptors only).
        ends = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (commands_read, replies_write)]
        for fd in (commands_read, replies_write):
            os.close(fd)
        chromium = [str(CHROMIUM), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"]
        self._process = subprocess.Popen(
            ["bash", "-c", f'exec "$0" "$@" 3<&{ends[0]} 4>&{ends[1]}', *chromium],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=ends,
            start_new_session=True,
        )
        for fd in ends:
            os.close(fd)
        self._received = b""
        self._last_id = 0

    def call(self, method: str, params: dict | None = None, session: str = "", timeout: float = 60) -> dict:
        """Send one command and return its result; events received meanwhile are dropped."""
        self._last_id += 1
        message: dict = {"id": self._last_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            while b"\0" in self._received:
                raw, self._received = self._received.split(b"\0", 1)
                reply = json.loads(raw)
                if reply.get("id") == self._last_id:
                    if "error" in reply:
                        raise SystemExit(f"Chromium refused {method}: {reply['error']}")
                    return reply["result"]
            left = deadline - time.monotonic()
            if left <= 0:
                raise SystemExit(f"Chromium did not answer {method} within {timeout} s")
            ready, _, _ = select.select([self._replies], [], [], left)
            if ready:
                chunk = os.read(self._replies, 1 << 20)
                if not chunk:
                    raise SystemExit(f"Chromium exited while answering {method}")
                self._received += chunk

    def open(self, url: str, window: tuple[int, int]) -> str:
        """A new tab of ``window`` pixels showing ``url``; returns its session."""
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        metrics = {"width": window[0], "height": window[1], "deviceScaleFactor": 1, "mobile": False}
        self.call("Emulation.setDeviceMetricsOverride", metrics, session)
        self.call("Page.navigate", {"url": url}, session)
        return session

    def evaluate(self, session: str, expression: str) -> object:
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True}, session)
        return result["result"].get("value")

    def capture(self, session: str, png: Path) -> None:
        data = self.call("Page.captureScreenshot", {"format": "png"}, session)["data"]
        png.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        try:
            os.killpg(self._process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self._process.wait()
        os.close(self._commands)
        os.close(self._replies)


def still_loading(shot: Shot, dom: str) -> list[str]:
    """What the captured page does not show yet (nothing when it is complete)."""
    missing = [text for text in shot.must_show if text not in dom]
    if shot.every_asset_coloured:
        nodes = len(NODE_BOX.findall(dom))
        colours = NODE_COLOUR.findall(dom)
        if nodes == 0 or sum(colour in ("green", "red") for colour in colours) != nodes:
            missing.append(f"a status colour on each of the {nodes} assets, not {dict(Counter(colours))}")
    return missing


def wait_until_shown(browser: Browser, session: str, shot: Shot, check) -> None:
    """Look at the page's DOM until ``check`` finds nothing missing from it."""
    deadline = time.monotonic() + PAGE_TIMEOUT_S
    while True:
        missing = check(str(browser.evaluate(session, "document.documentElement.outerHTML")))
        if not missing:
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"{shot.file_name}: the page never showed {missing} within {PAGE_TIMEOUT_S} s")
        time.sleep(POLL_S)


def press(browser: Browser, session: str, text: str) -> None:
    """Click the control whose whole text is ``text``, as a user would."""
    script = (
        "(() => { const control = [...document.querySelectorAll('button, a, span')]"
        f".find(element => element.textContent.trim() === {json.dumps(text)});"
        " if (!control) return false; control.click(); return true; })()"
    )
    if not browser.evaluate(session, script):
        raise SystemExit(f"nothing to click named {text!r}")


def scroll_to(browser: Browser, session: str, text: str) -> None:
    """Bring the innermost element whose text starts with ``text`` to the top of its scrolled box."""
    script = (
        "(() => { const target = [...document.querySelectorAll('h1, h2, h3, h4, p, td')]"
        f".find(element => element.textContent.trim().startsWith({json.dumps(text)}));"
        " if (!target) return false; target.scrollIntoView({block: 'start'}); return true; })()"
    )
    if not browser.evaluate(session, script):
        raise SystemExit(f"nothing to scroll to starting {text!r}")


def take(shot: Shot, browser: Browser, base_url: str, output: Path) -> None:
    """Open the page, wait until it shows what the picture needs, act as the shot says, capture it."""
    session = browser.open(base_url + shot.path, shot.window)
    wait_until_shown(browser, session, shot, lambda dom: still_loading(shot, dom))
    if shot.click:
        press(browser, session, shot.click)
        wait_until_shown(browser, session, shot, lambda dom: [t for t in shot.then_show if t not in dom])
    if shot.scroll_to:
        scroll_to(browser, session, shot.scroll_to)
    time.sleep(1)  # let the last layout and fonts settle
    browser.capture(session, output / shot.file_name)


def optimise(png: Path) -> None:
    """Shrink the PNG losslessly when optipng is installed (about 15 % smaller); optional."""
    optipng = shutil.which("optipng")
    if optipng:
        subprocess.run([optipng, "-quiet", "-o2", str(png)], check=True)


def photograph_the_first_run(browser: Browser, port: int, output: Path) -> list[Path]:
    """The asset graph and the failed run's page, as they are right after the demo's first `make run`."""
    dagster_dev.graphql(port, "mutation { setNuxSeen }")  # no "Join the community" dialog
    pictures = shots(the_failed_run(port))
    for shot in pictures:
        say(f"{shot.file_name} <- http://127.0.0.1:{port}{shot.path}")
        take(shot, browser, f"http://127.0.0.1:{port}", output)
    return [output / shot.file_name for shot in pictures]


def photograph_the_plan_report(browser: Browser, port: int, output: Path) -> Path:
    """The plan report's run, right after the tutorial's `make plan ENV=dev`."""
    shot = plan_report_shot(the_plan_report_run(port))
    say(f"{shot.file_name} <- http://127.0.0.1:{port}{shot.path}")
    take(shot, browser, f"http://127.0.0.1:{port}", output)
    return output / shot.file_name


def take_screenshots(output: Path) -> None:
    """Do what the tutorial does in a throwaway bake, photograph the UI into ``output``, clean up.

    The tutorial's test photographs the same pages at the same steps, with the functions above.
    """
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
            browser = Browser(Path(tempfile.mkdtemp(prefix="chromium-", dir=scratch)))
            try:
                pictures = photograph_the_first_run(browser, port, output)
                follow_the_tutorial_to_a_plan_report(project, env)
                pictures.append(photograph_the_plan_report(browser, port, output))
            finally:
                browser.close()
        say("make dev stopped")
    for png in pictures:
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
