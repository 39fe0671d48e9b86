"""The template works with cruft: create, check, diff and update a project.

cruft always works from a git repository, so these tests clone the template's
committed HEAD (what CI sees on a clean checkout): uncommitted changes to the
template are not tested here. cruft runs as a user would run it, from the
command line, with HOME, the git configuration and the temp folder pointed at
test folders.

``cruft update`` runs the template's hooks again, so every Python process the
tests start (cruft itself and the hook scripts it runs) loads an audit hook
that logs the programs it spawns and the sockets it opens. The tests then
assert that the hooks spawned nothing, that cruft spawned only git and the
hooks, and that nothing touched the network.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from helpers.baking import read_tree, run_cookiecutter
from helpers.template_repo import TemplateClone

TEMPLATE_DIR = Path(__file__).resolve().parent.parent

# Answer sets baked through cruft: the defaults, and every other option value at once
# (the starter sample is the one the post-generation hook prunes files for).
ANSWER_SETS: dict[str, dict[str, str]] = {
    "defaults": {},
    "starter-postgres": {"sample_pipeline": "starter", "warehouse": "postgres"},
}

# Loaded by every Python process the tests start (PYTHONPATH), cruft's and the hooks'.
AUDIT_SITECUSTOMIZE = '''\
"""Written by tests/test_cruft.py: log the programs this process spawns and the sockets it opens."""
import json
import os
import sys

_LOG = os.environ.get("CRUFT_TEST_AUDIT_LOG")
# event name -> index of the command (or address) in the event's arguments
_EVENTS = {
    "subprocess.Popen": 1,
    "os.system": 0,
    "os.exec": 1,
    "os.posix_spawn": 1,
    "socket.connect": 1,
    "socket.getaddrinfo": 0,
}


def _audit(event, args):
    if event not in _EVENTS:
        return
    target = args[_EVENTS[event]]
    if isinstance(target, (list, tuple)) and event != "socket.connect":
        target = [str(part) for part in target]
    else:
        target = [str(target)]
    record = {"process": sys.argv[0] if sys.argv else "", "event": event, "target": target}
    with open(_LOG, "a", encoding="utf-8") as log:
        log.write(json.dumps(record) + "\\n")


if _LOG:
    sys.addaudithook(_audit)
'''


@dataclass(frozen=True)
class Event:
    """One audited action of a Python process started by the tests."""

    process: str  # sys.argv[0] of the process that did it
    event: str  # audit event name, e.g. "subprocess.Popen"
    target: list[str]  # the command line, or the address

    @property
    def is_spawn(self) -> bool:
        return not self.event.startswith("socket.")


@dataclass(frozen=True)
class CruftRun:
    """What one cruft command printed and did."""

    returncode: int
    output: str  # stdout and stderr, interleaved
    events: list[Event]


@dataclass(frozen=True)
class Template:
    """The clone of the template repository that cruft works from."""

    path: Path
    commit: str


class Sandbox:
    """Runs git and cruft in an environment that keeps everything in one temp folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp = root / "tmp"  # where cookiecutter writes the rendered hook scripts
        audit_dir = root / "audit"
        for folder in (root / "home", self.tmp, audit_dir):
            folder.mkdir()
        (audit_dir / "sitecustomize.py").write_text(AUDIT_SITECUSTOMIZE, encoding="utf-8")
        self.env = {
            **os.environ,
            "HOME": str(root / "home"),
            "XDG_CONFIG_HOME": str(root / "home" / ".config"),
            "TMPDIR": str(self.tmp),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_TERMINAL_PROMPT": "0",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(audit_dir), os.environ.get("PYTHONPATH")])),
        }
        self._log_numbers = itertools.count()

    def git(self, *args: str, cwd: Path) -> str:
        """Run git; return its stdout, failing the test with its output if it fails."""
        result = subprocess.run(
            ["git", *args], cwd=cwd, env=self.env, capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, f"git {' '.join(args)} failed:\n{result.stdout}{result.stderr}"
        return result.stdout

    def cruft(self, *args: str, cwd: Path) -> CruftRun:
        """Run ``cruft ARGS`` in ``cwd``; return its exit code, output and audited events."""
        log = self.root / "audit" / f"{next(self._log_numbers)}.jsonl"
        result = subprocess.run(
            [sys.executable, "-m", "cruft", *args],
            cwd=cwd,
            env={**self.env, "CRUFT_TEST_AUDIT_LOG": str(log)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            check=False,
        )
        lines = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
        return CruftRun(result.returncode, result.stdout, [Event(**json.loads(line)) for line in lines])

    def commit_all(self, repo: Path, message: str) -> str:
        """Commit everything in ``repo`` as a local test user; return the commit hash."""
        self.git("add", "-A", cwd=repo)
        self.git(
            "-c", "user.name=Template Tests", "-c", "user.email=tests@example.com",
            "commit", "--quiet", "--no-verify", "-m", message, cwd=repo,
        )  # fmt: skip
        return self.git("rev-parse", "HEAD", cwd=repo).strip()

    def create(self, template: Template, answers: dict[str, str], name: str) -> Path:
        """``cruft create`` a project from ``template``, then commit it in a new git repository."""
        output_dir = self.root / name
        run = self.cruft(
            "create", str(template.path), "--no-input", "--output-dir", str(output_dir),
            "--extra-context", json.dumps(answers), cwd=self.root,
        )  # fmt: skip
        assert run.returncode == 0, f"cruft create failed:\n{run.output}"
        (project,) = output_dir.iterdir()
        self.git("init", "--quiet", cwd=project)
        self.commit_all(project, "Project created with cruft")
        return project


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Sandbox:
    return Sandbox(tmp_path_factory.mktemp("cruft"))


@pytest.fixture(scope="module")
def template(sandbox: Sandbox) -> Template:
    """Clone the template's committed HEAD; ``--no-hardlinks`` copies the objects."""
    inside = subprocess.run(
        ["git", "rev-parse", "--is-inside-work-tree"],
        cwd=TEMPLATE_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    if inside.stdout.strip() != "true":
        pytest.skip(f"{TEMPLATE_DIR} is not a git repository; cruft works from git repositories only")
    clone = sandbox.root / "template"
    sandbox.git("clone", "--quiet", "--no-hardlinks", str(TEMPLATE_DIR), str(clone), cwd=sandbox.root)
    return Template(clone, sandbox.git("rev-parse", "HEAD", cwd=clone).strip())


@pytest.fixture(scope="module", params=list(ANSWER_SETS))
def answer_set(request: pytest.FixtureRequest) -> str:
    """The name of an entry of ANSWER_SETS."""
    return str(request.param)


@pytest.fixture(scope="module")
def answers(answer_set: str) -> dict[str, str]:
    return ANSWER_SETS[answer_set]


@pytest.fixture(scope="module")
def project(sandbox: Sandbox, template: Template, answers: dict[str, str], answer_set: str) -> Path:
    """A project created with cruft and committed; tests that change a project create their own."""
    return sandbox.create(template, answers, f"project-{answer_set}")


def git_status(sandbox: Sandbox, project: Path) -> list[str]:
    """Every change in ``project``, untracked and git-ignored files included (.venv/, data/...)."""
    status = sandbox.git("status", "--porcelain", "--ignored", "--untracked-files=all", cwd=project)
    return status.splitlines()


def absolute_paths(value: object) -> Iterator[str]:
    """Yield every string in a JSON value that is an absolute path (or starts with ``~``)."""
    if isinstance(value, dict):
        for item in value.values():
            yield from absolute_paths(item)
    elif isinstance(value, list):
        for item in value:
            yield from absolute_paths(item)
    elif isinstance(value, str) and (os.path.isabs(value) or value.startswith("~")):
        yield value


def assert_harmless(run: CruftRun, sandbox: Sandbox) -> None:
    """The hooks spawned nothing, cruft spawned only git and the hooks, no socket was opened."""
    assert run.events, "the audit hook logged nothing: was sitecustomize.py not loaded?"
    sockets = [event for event in run.events if not event.is_spawn]
    assert not sockets, f"cruft or a hook opened a network connection: {sockets}"

    def is_hook(process: str) -> bool:
        return Path(process).parent == sandbox.tmp

    hook_spawns = [event for event in run.events if event.is_spawn and is_hook(event.process)]
    assert not hook_spawns, f"a hook started a program (git init? an install?): {hook_spawns}"
    unexpected = [
        event
        for event in run.events
        if event.is_spawn
        and Path(event.target[0]).name != "git"
        and not (event.target[0] == sys.executable and is_hook(event.target[-1]))
    ]
    assert not unexpected, f"cruft started something other than git and the hooks: {unexpected}"


def test_cruft_json_records_template_commit_and_answers(
    project: Path, template: Template, answers: dict[str, str]
) -> None:
    cruft_file = project / ".cruft.json"
    assert cruft_file.is_file(), "cruft create wrote no .cruft.json"
    state = json.loads(cruft_file.read_text(encoding="utf-8"))
    assert state["template"] == str(template.path), "unexpected template location"
    assert state["commit"] == template.commit, "the template commit is not the one cloned"
    recorded = state["context"]["cookiecutter"]
    for key, value in answers.items():
        assert recorded[key] == value, f"answer {key}={value!r} recorded as {recorded[key]!r}"
    machine_paths = set(absolute_paths(state)) - {str(template.path)}
    assert not machine_paths, f".cruft.json holds machine paths other than the template: {machine_paths}"


def test_no_file_but_cruft_json_names_a_machine_path(project: Path, sandbox: Sandbox) -> None:
    """Only .cruft.json may say where the template was (hooks see _template, _output_dir...)."""
    offenders = [
        path.relative_to(project).as_posix()
        for path in sorted(project.rglob("*"))
        if path.is_file()
        and ".git" not in path.relative_to(project).parts
        and path.name != ".cruft.json"
        and str(sandbox.root).encode() in path.read_bytes()
    ]
    assert not offenders, f"files naming a path of the machine that baked them: {offenders}"


def test_check_says_up_to_date(project: Path, sandbox: Sandbox) -> None:
    run = sandbox.cruft("check", cwd=project)
    assert run.returncode == 0 and "up to date" in run.output, f"cruft check:\n{run.output}"
    assert_harmless(run, sandbox)


def test_diff_is_empty(project: Path, sandbox: Sandbox) -> None:
    """cruft diff re-renders the template (hooks included) and compares it with the project."""
    run = sandbox.cruft("diff", "--exit-code", cwd=project)
    assert run.returncode == 0 and "diff --git" not in run.output, f"cruft diff:\n{run.output}"
    assert_harmless(run, sandbox)
    assert git_status(sandbox, project) == [], "cruft diff changed the project"


def test_update_to_the_same_commit_changes_nothing(
    project: Path, sandbox: Sandbox, template: Template
) -> None:
    run = sandbox.cruft(
        "update", "--skip-apply-ask", "--allow-untracked-files", "--checkout", template.commit, cwd=project
    )
    assert run.returncode == 0, f"cruft update failed:\n{run.output}"
    assert "already up to date" in run.output, f"cruft update found something to do:\n{run.output}"
    assert_harmless(run, sandbox)
    assert git_status(sandbox, project) == [], "cruft update changed the project"


def test_regenerating_at_the_same_commit_changes_nothing(project: Path, sandbox: Sandbox) -> None:
    """``--refresh-private-variables`` makes cruft re-render both sides and run the hooks again."""
    head = sandbox.git("rev-parse", "HEAD", cwd=project)
    run = sandbox.cruft(
        "update", "--skip-apply-ask", "--allow-untracked-files", "--refresh-private-variables", cwd=project
    )
    assert run.returncode == 0 and "has been updated" in run.output, f"cruft update:\n{run.output}"
    assert_harmless(run, sandbox)
    assert git_status(sandbox, project) == [], "re-rendering the same commit changed the project"
    assert sandbox.git("rev-parse", "HEAD", cwd=project) == head, "the project's git history changed"


def test_update_applies_a_template_change(
    sandbox: Sandbox, template: Template, answers: dict[str, str], answer_set: str
) -> None:
    """A template commit reaches the project as exactly that change, but for the SQLMesh project; pruned
    files stay pruned."""
    project = sandbox.create(template, answers, f"updated-{answer_set}")
    # Commit the change on a branch of the clone, leaving its HEAD (the other tests') alone.
    branch = f"change-for-{answer_set}"
    worktree = sandbox.root / branch
    sandbox.git("worktree", "add", "--quiet", "-b", branch, str(worktree), cwd=template.path)
    inner = worktree / "{{cookiecutter.project_slug}}"
    with (inner / ".gitignore").open("a", encoding="utf-8") as gitignore:
        gitignore.write("# added by test_cruft.py\n")
    for model in sorted((inner / "sqlmesh_project" / "models" / "failure_demo").glob("*.sql")):
        with model.open("a", encoding="utf-8") as sql:
            sql.write("-- changed by test_cruft.py\n")
    new_commit = sandbox.commit_all(worktree, "A template change")

    assert sandbox.cruft("check", "--checkout", new_commit, cwd=project).returncode != 0, (
        "cruft check missed the new template commit"
    )
    run = sandbox.cruft("update", "--skip-apply-ask", "--checkout", new_commit, cwd=project)
    assert run.returncode == 0 and "has been updated" in run.output, f"cruft update:\n{run.output}"
    assert_harmless(run, sandbox)

    # The sample's models changed too, but sqlmesh_project/ is the team's: [tool.cruft] skip.
    changed = sorted(line[3:] for line in git_status(sandbox, project))
    assert changed == [".cruft.json", ".gitignore"], f"cruft update changed other files: {changed}"
    demo_models = list((project / "sqlmesh_project" / "models" / "failure_demo").glob("*.sql"))
    if answers.get("sample_pipeline") == "starter":
        assert not demo_models, "the update brought back the models the starter sample prunes"
    else:
        assert demo_models, "the demo sample should have failure_demo models"
    state = json.loads((project / ".cruft.json").read_text(encoding="utf-8"))
    assert state["commit"] == new_commit, ".cruft.json does not record the new template commit"


def test_cruft_create_bakes_what_cookiecutter_bakes(
    project: Path, sandbox: Sandbox, template: Template, answers: dict[str, str], answer_set: str
) -> None:
    """The README offers both; they differ by .cruft.json alone (and the git repository made here)."""
    output_dir = sandbox.root / f"cookiecutter-{answer_set}"
    extra = [f"{key}={value}" for key, value in answers.items()]
    baked = run_cookiecutter(
        ["--no-input", "--output-dir", str(output_dir), str(template.path), *extra], sandbox.root, sandbox.env
    )
    assert baked.returncode == 0, baked.stdout + baked.stderr
    (with_cookiecutter,) = list(output_dir.iterdir())
    by_cruft = {name: data for name, data in read_tree(project).items() if not name.startswith(".git/")}
    by_cruft.pop(".cruft.json")
    assert by_cruft == read_tree(with_cookiecutter)


def test_ci_warns_without_failing_when_the_project_is_behind_its_template(tmp_path: Path) -> None:
    """The generated workflow's template job, run with bash: silent when up to date, a warning when behind.

    ``uvx --from 'cruft...' cruft ARGS`` runs this environment's cruft (the same range).
    """
    template = TemplateClone.of_head(tmp_path / "template")
    project = template.cruft_create(tmp_path / "bakes")
    workflow = yaml.safe_load((project / ".github/workflows/ci.yml").read_text(encoding="utf-8"))
    (script,) = [step["run"] for step in workflow["jobs"]["template"]["steps"] if "run" in step]
    shims = tmp_path / "shims"
    shims.mkdir()
    (shims / "uvx").write_text(
        f'#!/bin/sh\nshift 3\nexec "{sys.executable}" -m cruft "$@"\n', encoding="utf-8"
    )
    (shims / "uvx").chmod(0o755)
    env = {**os.environ, "PATH": f"{shims}{os.pathsep}{os.environ['PATH']}"}

    def run_job() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-e", "-c", script], check=False, cwd=project, env=env, capture_output=True, text=True
        )

    up_to_date = run_job()
    assert up_to_date.returncode == 0 and "::warning" not in up_to_date.stdout, up_to_date.stdout
    with (template.path / "{{cookiecutter.project_slug}}" / "Makefile").open(
        "a", encoding="utf-8"
    ) as makefile:
        makefile.write("# a newer template\n")
    template.commit("A newer template")
    behind = run_job()
    assert behind.returncode == 0, behind.stdout + behind.stderr
    assert (
        "::warning title=Template::The template has changes this project has not taken: run make update"
        in (behind.stdout)
    )
    (project / ".cruft.json").unlink()
    unlinked = run_job()
    assert unlinked.returncode == 0 and "::notice title=Template::No .cruft.json" in unlinked.stdout
