"""docs/screenshots.py, imported by the tutorial's test: it photographs the UI at the tutorial's own steps.

Chromium is a system package: `.ci/run` installs Debian's `chromium` when it is
missing, so in CI (CI=true) a missing /usr/bin/chromium fails the test. Elsewhere
the pictures are left out, saying how to get it.
"""

import importlib.util
import os
import struct
import sys
import warnings
from pathlib import Path
from types import ModuleType

import pytest

TEMPLATE_DIR = Path(__file__).resolve().parents[2]
SCRIPT = TEMPLATE_DIR / "docs" / "screenshots.py"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# A blank page or Dagster's loading spinner at these sizes compresses to under
# 40 KB; the real pages are several times bigger.
MIN_BYTES = 60_000


def screenshot_script() -> ModuleType | None:
    """The script as a module, or None where Chromium is missing outside CI (in CI that fails the test)."""
    spec = importlib.util.spec_from_file_location("screenshots", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    if not module.CHROMIUM.exists():
        message = (
            f"Chromium is not installed at {module.CHROMIUM} (apt-get install chromium; .ci/run does it)"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(message, pytrace=False)
        warnings.warn(f"the UI is not photographed: {message}", stacklevel=2)
        return None
    return module


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from the PNG header (the IHDR chunk always comes first)."""
    assert data[:8] == PNG_SIGNATURE, "not a PNG file"
    assert data[12:16] == b"IHDR", "PNG without an IHDR chunk first"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def assert_a_real_picture(png: Path) -> None:
    """A PNG of the window's size with more in it than a blank or loading page."""
    data = png.read_bytes()
    width, height = png_size(data)
    assert width >= 1000 and height >= 1000, f"{png.name} is {width}x{height}"
    assert len(data) > MIN_BYTES, f"{png.name} has {len(data)} bytes: a blank or loading page?"
