"""docs/screenshots.py, run for real: it bakes, runs and serves the demo, then photographs the UI.

Chromium is a system package: `.ci/run` installs Debian's `chromium` when it is
missing, so in CI (CI=true) a missing /usr/bin/chromium fails the test. Elsewhere
the test is skipped, saying how to get it.
"""

import os
import re
import struct
import subprocess
import sys
from pathlib import Path

import pytest

TEMPLATE_DIR = Path(__file__).resolve().parents[2]
SCRIPT = TEMPLATE_DIR / "docs" / "screenshots.py"
CHROMIUM = Path("/usr/bin/chromium")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# A blank page or Dagster's loading spinner at this size compresses to under
# 40 KB; the real pages are several times bigger.
MIN_BYTES = 60_000

pytestmark = pytest.mark.e2e


@pytest.fixture(autouse=True)
def chromium() -> Path:
    """/usr/bin/chromium: required in CI, where .ci/run installs it; elsewhere its absence skips."""
    if not CHROMIUM.exists():
        message = f"Chromium is not installed at {CHROMIUM} (apt-get install chromium; .ci/run does it)"
        if os.environ.get("CI") == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return CHROMIUM


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from the PNG header (the IHDR chunk always comes first)."""
    assert data[:8] == PNG_SIGNATURE, "not a PNG file"
    assert data[12:16] == b"IHDR", "PNG without an IHDR chunk first"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_script_takes_every_screenshot(tmp_path, isolated_env):
    output = tmp_path / "images"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--output", str(output)],
        cwd=TEMPLATE_DIR,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr[-5000:]}"
    assert sorted(path.name for path in output.iterdir()) == [
        "asset-graph.png",
        "plan-report-data-diff.png",
        "run-failed-and-skipped.png",
    ]
    for png in output.iterdir():
        data = png.read_bytes()
        width, height = png_size(data)
        assert width >= 1000 and height >= 1000, f"{png.name} is {width}x{height}"
        assert len(data) > MIN_BYTES, f"{png.name} has {len(data)} bytes: a blank or loading page?"
    # The script stops `make dev` (dagster_dev.serving checks no process is left) and cleans up.
    assert "make dev stopped" in result.stderr
    workdir = re.search(r"baking the default project into (\S+)", result.stderr).group(1)
    assert not Path(workdir).exists()
