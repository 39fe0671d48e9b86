"""Secrets stay out of a baked project, and the UI is private by default.

Fast (a bake, git and make's dry run; nothing installed), so not marked e2e:
it runs with the fast tests too.
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

SAMPLES = [{}, {"sample_pipeline": "starter"}]
SETTINGS_DOCUMENTED = [
    "WAREHOUSE_PATH",
    "DAGSTER_EXECUTOR",
    "SQLMESH_PROJECT_DIR",
    "SQLMESH_ENVIRONMENT",
    "SQLMESH_AUTO_PLAN",
    "SQLMESH_AUTOMATION",
]
POSTGRES_SETTINGS = ["POSTGRES_HOST", "POSTGRES_PORT", "POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"]

# --- A simple, stated heuristic for "looks like a secret value" -------------------------
# 1. `<name>=<value>` or `<name>: <value>` where the name says password, secret, token
#    or key, and the value is not a placeholder (empty, <...>, ${...}, {{...}}, xxx).
#    In code and prose (.py, .sql, .md) only a quoted literal counts as a value
#    (`password=settings.password` is a reference, "the token: see" is prose); in
#    settings files (.env*, YAML, TOML, INI, Makefile) any value does.
# 2. A password inside a URL (`scheme://user:password@host`).
# 3. The shapes of well-known credentials: private key blocks, AWS access key ids,
#    GitHub, Slack and OpenAI-style tokens.
SECRET_NAME = r"\w*(?:password|passwd|secret|token|api_?key|access_?key|private_?key)\w*"
NAMED_VALUE = re.compile(
    rf"(?i)\b(?P<name>{SECRET_NAME})[\"']?\s*[:=]\s*(?P<value>\"[^\"]*\"|'[^']*'|[^\s,;#]*)"
)
URL_PASSWORD = re.compile(r"(?i)\b[a-z][a-z0-9+.-]*://[^/\s:@]+:(?P<value>[^@\s/]+)@")
CREDENTIAL_SHAPES = re.compile(
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----|\bAKIA[0-9A-Z]{16}\b|\bgh[pousr]_[A-Za-z0-9]{36,}"
    r"|\bxox[abprs]-[A-Za-z0-9-]{10,}|\bsk-[A-Za-z0-9_-]{32,}"
)
PLACEHOLDER = re.compile(
    r"^(?:$|<.*|\$\{.*|\$\(.*|\{\{.*|x{3,}|\*{3,}|\.\.\.|changeme|change-me)", re.IGNORECASE
)
CODE_SUFFIXES = {".py", ".sql", ".md"}
ENV_READ = re.compile(r"os\.(?:environ\.get\(|getenv\(|environ\[)\s*[\"'](\w+)[\"']")
YAML_ENV_READ = re.compile(r"\benv\(\s*[\"'](\w+)[\"']")
"""A setting read by a component's defs.yaml: ``{{ env('NAME', 'default') }}``."""


def secret_values(file_name: str, text: str) -> list[str]:
    """The lines of ``text`` that look like they hold a secret value (see the heuristic above)."""
    in_code = Path(file_name).suffix in CODE_SUFFIXES
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        values = [
            match["value"]
            for match in NAMED_VALUE.finditer(line)
            if not in_code or match["value"][:1] in "\"'"
        ]
        values += [match["value"] for match in URL_PASSWORD.finditer(line)]
        if CREDENTIAL_SHAPES.search(line) or any(not PLACEHOLDER.match(v.strip("\"'")) for v in values):
            found.append(f"{file_name}:{number}: {line.strip()}")
    return found


@pytest.mark.parametrize(
    ("file_name", "line", "is_secret"),
    [
        (".env", "POSTGRES_PASSWORD=hunter2", True),
        (".env.example", "# POSTGRES_PASSWORD=hunter2", True),
        ("config.py", 'api_key = "live-4f9a0c"', True),
        ("config.yaml", "  password: s3cret", True),
        ("README.md", "postgresql://analytics:s3cret@db.internal/warehouse", True),
        ("notes.txt", "ghp_" + "a1B2" * 9, True),
        (".env.example", "# POSTGRES_PASSWORD=<your-password>", False),
        (".env.example", "# POSTGRES_PASSWORD=", False),
        ("config.py", 'password=os.environ["POSTGRES_PASSWORD"],', False),
        ("config.py", "password: str = Field(description='the database password')", False),
        ("ci.yml", "token: ${{ secrets.GITHUB_TOKEN }}", False),
        ("tutorial.md", "SQL parse errors name the unexpected token: see below.", False),
    ],
)
def test_the_secret_heuristic_flags_values_not_placeholders(file_name, line, is_secret):
    assert bool(secret_values(file_name, line)) == is_secret, f"{file_name}: {line}"


@pytest.mark.parametrize("answers", SAMPLES, ids=["demo", "starter"])
def test_no_baked_file_holds_a_secret_value(bake, answers):
    project = bake(answers)
    found = []
    for path in sorted(p for p in project.rglob("*") if p.is_file()):
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # binary files hold no settings
        found += secret_values(str(path.relative_to(project)), text)
    assert found == [], "baked files that look like they hold a secret:\n" + "\n".join(found)


def git(project: Path, *arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["git", *arguments], cwd=project, check=False, capture_output=True, text=True, timeout=60
    )


def test_gitignore_keeps_dot_env_out_and_env_example_in(bake, tmp_path):
    project = tmp_path / "project"
    shutil.copytree(bake(), project)
    (project / ".env").write_text("POSTGRES_PASSWORD=a-real-one\n")
    assert git(project, "init", "--quiet").returncode == 0

    assert git(project, "check-ignore", "--quiet", ".env").returncode == 0, ".env is not ignored by git"
    assert git(project, "check-ignore", "--quiet", ".env.example").returncode == 1, ".env.example is ignored"
    would_add = git(project, "add", "--all", "--dry-run").stdout
    assert "'.env.example'" in would_add and "'.env'" not in would_add, would_add


def test_env_example_documents_every_setting_and_changes_nothing_as_copied(bake):
    project = bake()
    example = (project / ".env.example").read_text()
    code = [*project.glob("src/**/*.py"), project / "sqlmesh_project" / "config.py"]
    read_by_code = {name for path in code for name in ENV_READ.findall(path.read_text())}
    read_by_code |= {
        name for path in project.glob("src/**/defs.yaml") for name in YAML_ENV_READ.findall(path.read_text())
    }
    assert set(SETTINGS_DOCUMENTED) <= read_by_code, f"the code reads {sorted(read_by_code)}"
    for name in sorted(read_by_code) + POSTGRES_SETTINGS:
        assert re.search(rf"^# {name}=", example, re.MULTILINE), f"{name} is not documented as '# {name}=...'"
    active = [line for line in example.splitlines() if line.strip() and not line.startswith("#")]
    assert active == [], f"a plain copy to .env would change settings: {active}"
    postgres = example[example.index("POSTGRES_HOST") - 300 : example.index("POSTGRES_HOST")]
    assert "not used by the DuckDB setup" in postgres, "the Postgres lines must say they are not used yet"


def make_dry_run(project: Path, *arguments: str) -> str:
    """What `make` would run (nothing is executed), without HOST/PORT from this environment."""
    inherited = {"HOST", "PORT", "MAKEFLAGS", "MFLAGS", "MAKELEVEL"}
    env = {name: value for name, value in os.environ.items() if name not in inherited}
    result = subprocess.run(
        ["make", "--dry-run", *arguments], cwd=project, env=env, check=True, capture_output=True, text=True
    )
    return result.stdout


def test_make_dev_binds_the_ui_to_localhost_unless_asked(bake):
    project = bake()
    makefile = (project / "Makefile").read_text()
    assert re.search(r"^HOST \?= 127\.0\.0\.1$", makefile, re.MULTILINE), "HOST must default to 127.0.0.1"
    assert re.search(r"^\t.*\$\(BIN\)/dg dev --host \$\(HOST\) ", makefile, re.MULTILINE), (
        "`make dev` must pass --host $(HOST) to dg dev"
    )
    assert ".venv/bin/dg dev --host 127.0.0.1 --port 3000" in make_dry_run(project, "dev")
    assert "--host 0.0.0.0" in make_dry_run(project, "dev", "HOST=0.0.0.0"), "HOST=... must still be possible"
