"""A contestant's own virtual environment: the peer's and the dbt contestants' are installed apart.

Each resolves its own releases (or pins DuckDB to the baked project's), so what
got installed is read back from the environment and recorded in the results.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

VERSIONS_SCRIPT = (
    "import json, sys, importlib.metadata as m; print(json.dumps({p: m.version(p) for p in sys.argv[1:]}))"
)


@dataclass(frozen=True)
class ToolVenv:
    """A virtual environment of the benchmark's own, and what got installed into it."""

    root: Path
    versions: dict[str, str] = field(default_factory=dict)

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    @property
    def dagster(self) -> Path:
        return self.root / "bin" / "dagster"


def installed_versions(python: Path, packages: list[str]) -> dict[str, str]:
    """The installed version of each of ``packages``, read by the environment's own Python."""
    output = subprocess.run(
        [str(python), "-c", VERSIONS_SCRIPT, *packages], check=True, capture_output=True, text=True
    )
    return json.loads(output.stdout)
