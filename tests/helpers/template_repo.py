"""A git clone of the template, newer commits made on it, and projects baked from it with cruft.

cruft works from git repositories only: it records the commit a project was baked from
and renders the template again at that commit and at a newer one. The tests bake from
a clone of the template's committed HEAD (the "old" template a team baked from) and
commit the "new" template's changes on the clone, so the update is between two real
commits whatever this repository's history holds.
"""

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from helpers.baking import TEMPLATE_DIR

INTEGRATION_IN_TEMPLATE = Path(
    "{{cookiecutter.project_slug}}/src/{{cookiecutter.package_name}}/sqlmesh_integration"
)
"""The integration's folder in the template (it is copied without rendering)."""


def git(*args: str, cwd: Path) -> str:
    """Run git as a local test user; its stdout, failing the test with its output if it fails."""
    identity = ["-c", "user.name=Template Tests", "-c", "user.email=tests@example.com"]
    result = subprocess.run(["git", *identity, *args], cwd=cwd, capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"git {' '.join(args)} failed:\n{result.stdout}{result.stderr}"
    return result.stdout


def commit_all(repo: Path, message: str) -> str:
    """Commit everything in ``repo``; the commit's hash."""
    git("add", "-A", cwd=repo)
    git("commit", "--quiet", "--no-verify", "-m", message, cwd=repo)
    return git("rev-parse", "HEAD", cwd=repo).strip()


@dataclass(frozen=True)
class TemplateClone:
    """A clone of the template; ``baked_from`` is the commit projects are baked from."""

    path: Path
    baked_from: str

    @classmethod
    def of_head(cls, dest: Path) -> "TemplateClone":
        """Clone the template's committed HEAD into ``dest``."""
        git("clone", "--quiet", "--no-hardlinks", str(TEMPLATE_DIR), str(dest), cwd=dest.parent)
        return cls(dest, git("rev-parse", "HEAD", cwd=dest).strip())

    def integration_file(self, name: str) -> Path:
        """A file of the integration in this clone."""
        return self.path / INTEGRATION_IN_TEMPLATE / name

    def commit(self, message: str) -> str:
        """Commit what the test changed in the clone, as the template's newer version."""
        return commit_all(self.path, message)

    def cruft_create(self, output_dir: Path, **answers: str) -> Path:
        """``cruft create`` a project at the baked-from commit, committed in a git repository of its own."""
        output_dir.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "cruft", "create", "--no-input", "--output-dir", str(output_dir)]
        command += ["--checkout", self.baked_from, "--extra-context", json.dumps(answers), str(self.path)]
        result = subprocess.run(command, capture_output=True, text=True, check=False, env=dict(os.environ))
        assert result.returncode == 0, f"cruft create failed:\n{result.stdout}{result.stderr}"
        (project,) = [path for path in output_dir.iterdir() if path.is_dir()]
        git("init", "--quiet", "--initial-branch=main", cwd=project)
        commit_all(project, "Baked with cruft")
        return project
