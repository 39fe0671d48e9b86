"""The template README's tree of the vendored integration names exactly the modules a bake has.

The tree shows the integration's layers: each sub-package as a folder row,
its modules indented beneath it, and the modules at the integration's top
beside the folders. A module moved, added or removed must show there.
"""

import re

from helpers.baking import PROJECT_TEMPLATE, TEMPLATE_DIR

INTEGRATION = PROJECT_TEMPLATE / "src" / "{{cookiecutter.package_name}}" / "sqlmesh_integration"
TREE_ROW = re.compile(r"^(?P<indent> {6}| {8})(?P<name>[a-z_]+(?:\.py|/))(?: {2,}\S|$)")


def readme_modules() -> set[str]:
    """The integration's modules as the README's tree shows them, relative to ``sqlmesh_integration/``."""
    tree = (TEMPLATE_DIR / "README.md").read_text(encoding="utf-8")
    modules: set[str] = set()
    folder = ""
    for line in tree.splitlines():
        match = TREE_ROW.match(line)
        if not match:
            continue
        name, nested = match["name"], len(match["indent"]) == 8
        if name.endswith("/"):
            folder = "" if nested else name
        elif nested:
            modules.add(folder + name)
        else:
            folder = ""
            modules.add(name)
    return modules


def test_every_module_of_the_integration_is_in_the_readme_tree_and_nothing_else():
    modules = {
        path.relative_to(INTEGRATION).as_posix()
        for path in INTEGRATION.rglob("*.py")
        if path.name != "__init__.py"
    }
    assert len(modules) > 20
    assert readme_modules() == modules


def test_the_readme_tree_shows_every_sub_package_of_the_integration():
    tree = (TEMPLATE_DIR / "README.md").read_text(encoding="utf-8")
    folders = {match["name"] for line in tree.splitlines() if (match := TREE_ROW.match(line))}
    packages = {f"{path.parent.name}/" for path in INTEGRATION.glob("*/__init__.py")}
    assert len(packages) > 3
    assert packages <= folders
