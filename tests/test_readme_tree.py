"""The template README's tree of the vendored integration names exactly the modules a bake has."""

import re

from helpers.baking import PROJECT_TEMPLATE, TEMPLATE_DIR

INTEGRATION = PROJECT_TEMPLATE / "src" / "{{cookiecutter.package_name}}" / "sqlmesh_integration"
TREE_ROW = re.compile(r"^ {6}(?P<module>[a-z_]+\.py) {2,}\S")


def readme_modules() -> set[str]:
    tree = (TEMPLATE_DIR / "README.md").read_text(encoding="utf-8")
    return {match["module"] for line in tree.splitlines() if (match := TREE_ROW.match(line))}


def test_every_module_of_the_integration_is_in_the_readme_tree_and_nothing_else():
    modules = {path.name for path in INTEGRATION.glob("*.py")} - {"__init__.py"}
    assert len(modules) > 20
    assert readme_modules() == modules
