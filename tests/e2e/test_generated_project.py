"""The generated project's own commands work as its README writes them."""

import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import TEMPLATE_BIN, run
from sample_expectations import ALL_MODELS_DEMO

pytestmark = pytest.mark.e2e


def readme_commands(project_root: Path) -> list[str]:
    """The commands of the first shell block in the README, comments stripped."""
    readme = (project_root / "README.md").read_text()
    block = re.search(r"```bash\n(.*?)```", readme, re.S).group(1)
    return [line.split("#")[0].strip() for line in block.splitlines() if line.split("#")[0].strip()]


def test_readme_starts_with_dev_and_test(demo_project):
    assert readme_commands(demo_project.root) == ["make dev", "make test"]


def test_make_test_passes(demo_project):
    env = {**os.environ, "PATH": f"{TEMPLATE_BIN}{os.pathsep}{os.environ['PATH']}"}
    result = run(["make", "test"], cwd=demo_project.root, env=env)
    summary = result.stdout.strip().splitlines()[-1]
    assert re.search(r"\d+ passed", summary) and "failed" not in summary, result.stdout


def test_definitions_validate_with_the_dagster_cli(demo_project):
    env = {**os.environ, "DAGSTER_HOME": str(demo_project.root / "dagster_home")}
    result = run([str(demo_project.root / ".venv" / "bin" / "dagster"), "definitions", "validate"],
                 cwd=demo_project.root, env=env)
    assert "Validation successful" in result.stdout + result.stderr


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())["data"]


def processes_in_session(session_id: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getsid(int(entry.name)) == session_id:
                    pids.append(int(entry.name))
            except ProcessLookupError:
                pass
    return pids


def _default_signals() -> None:
    # A shell started in the background ignores SIGINT; dagster dev must not inherit that.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def test_make_dev_serves_one_asset_per_model_and_stops_cleanly(demo_project, tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "PATH": f"{TEMPLATE_BIN}{os.pathsep}{os.environ['PATH']}",
        "DAGSTER_HOME": str(tmp_path),
    }
    (tmp_path / "dagster.yaml").write_text((demo_project.root / "dagster_home" / "dagster.yaml").read_text())
    server = subprocess.Popen(
        ["make", "dev", f"PORT={port}"],
        cwd=demo_project.root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=_default_signals,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2):
                    break
            except OSError:
                assert server.poll() is None, server.stdout.read().decode()
                assert time.monotonic() < deadline, "dagster dev did not answer within 120 s"
                time.sleep(1)
        data = graphql(port, "{ assetNodes { assetKey { path } } }")
        keys = {"/".join(node["assetKey"]["path"]) for node in data["assetNodes"]}
        assert keys == {model.replace(".", "/") for model in ALL_MODELS_DEMO}
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            raise
    deadline = time.monotonic() + 30
    while processes_in_session(server.pid) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert processes_in_session(server.pid) == [], "dagster dev left processes behind"
