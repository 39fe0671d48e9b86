"""The vendored integration's version moves with its code.

A project takes the template's changes with ``make update``; what it takes is told by
the integration's version and its CHANGELOG.md. So every change to the integration's
files must come with a new version: ``integration_digests.txt`` records, per version,
a digest of the files, and a digest that is not the current version's fails here.
A recorded line is never edited; a change adds a line for its new version.
"""

import ast
import hashlib
import json
import re
from pathlib import Path

from helpers.baking import ARTEFACT_NAMES, ARTEFACT_SUFFIXES

TEMPLATE_DIR = Path(__file__).resolve().parent.parent
INTEGRATION = (
    TEMPLATE_DIR
    / "{{cookiecutter.project_slug}}"
    / "src"
    / "{{cookiecutter.package_name}}"
    / "sqlmesh_integration"
)
DIGESTS = Path(__file__).resolve().parent / "integration_digests.txt"
VERSION = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")
CHANGELOG_ENTRY = re.compile(r"^## (\S+) \((\d{4}-\d{2}-\d{2})\)$", re.MULTILINE)


def integration_digest() -> str:
    """SHA-256 of every file of the integration (caches aside): its path under the folder, then its bytes."""
    digest = hashlib.sha256()
    files = sorted(
        path
        for path in INTEGRATION.rglob("*")
        if path.is_file()
        and not ARTEFACT_NAMES & set(path.parts)
        and not path.name.endswith(ARTEFACT_SUFFIXES)
    )
    for path in files:
        digest.update(path.relative_to(INTEGRATION).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def declared_version() -> str:
    """``__version__`` as ``sqlmesh_integration/__init__.py`` assigns it (read, not imported)."""
    tree = ast.parse((INTEGRATION / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["__version__"]:
            assert isinstance(node.value, ast.Constant), "__version__ must be a string literal"
            return str(node.value.value)
    raise AssertionError("sqlmesh_integration/__init__.py assigns no __version__")


def version_key(version: str) -> tuple[int, int, int]:
    """A version as three numbers, so 1.10.0 sorts after 1.9.0."""
    found = VERSION.fullmatch(version)
    assert found, f"version {version!r} is not MAJOR.MINOR.PATCH"
    return int(found[1]), int(found[2]), int(found[3])


def changelog_versions() -> list[str]:
    """The versions CHANGELOG.md has an entry for, in its order."""
    changelog = (INTEGRATION / "CHANGELOG.md").read_text(encoding="utf-8")
    return [version for version, _ in CHANGELOG_ENTRY.findall(changelog)]


def recorded_digests() -> list[tuple[str, str]]:
    """(version, digest) per line of integration_digests.txt, in the file's order."""
    lines = [line.split() for line in DIGESTS.read_text(encoding="utf-8").splitlines()]
    return [(line[0], line[1]) for line in lines if line and not line[0].startswith("#")]


def test_the_version_is_semantic_and_the_changelog_opens_with_it():
    version = declared_version()
    version_key(version)
    versions = changelog_versions()
    assert versions, "CHANGELOG.md has no entry '## VERSION (YYYY-MM-DD)'"
    assert versions[0] == version, (
        f"CHANGELOG.md opens with {versions[0]}, but __version__ is {version}: "
        "add the new version's entry at the top"
    )
    assert versions == sorted(versions, key=version_key, reverse=True), (
        f"CHANGELOG.md is not newest first: {versions}"
    )


def test_every_change_to_the_integration_comes_with_a_new_version():
    version, digest = declared_version(), integration_digest()
    recorded = dict(recorded_digests())

    def add_line(new_version: str) -> str:
        return f"add the line '{new_version} {digest}' to {DIGESTS.relative_to(TEMPLATE_DIR)}"

    if version not in recorded:
        raise AssertionError(f"version {version} is not recorded: {add_line(version)}")
    assert recorded[version] == digest, (
        f"the integration changed since version {version} was recorded. Raise __version__ in "
        "sqlmesh_integration/__init__.py, add its entry at the top of CHANGELOG.md (what changed for a "
        "project, what to do when taking it), cookiecutter.json's _integration_version with it, and "
        + add_line("NEW_VERSION")
        + "; a recorded line is never edited"
    )


def test_recorded_versions_only_grow_and_each_has_a_changelog_entry():
    versions = [version for version, _ in recorded_digests()]
    assert versions == sorted(set(versions), key=version_key), f"{DIGESTS.name} must only grow: {versions}"
    in_changelog = set(changelog_versions())
    assert set(versions) <= in_changelog, (
        f"versions without a CHANGELOG.md entry: {set(versions) - in_changelog}"
    )


def test_the_bake_knows_the_version_its_readme_names():
    """The generated README names the version through cookiecutter.json's _integration_version."""
    context = json.loads((TEMPLATE_DIR / "cookiecutter.json").read_text(encoding="utf-8"))
    assert context["_integration_version"] == declared_version()
    readme = (TEMPLATE_DIR / "{{cookiecutter.project_slug}}" / "README.md").read_text(encoding="utf-8")
    assert "{{ cookiecutter._integration_version }}" in readme
