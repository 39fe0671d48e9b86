"""The vendored integration keeps its layers and its sizes (the generated ADR 0012).

Read from the template's source with ``ast``, nothing baked or imported: each
sub-package of ``sqlmesh_integration/`` is a layer that imports only itself
and the layers below it, so a change to a lower layer can be read without the
ones above it. The size limits keep every module, class and function small
enough to be read at once. A failure names the file, what broke the rule and
the rule.
"""

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers.baking import PROJECT_TEMPLATE

INTEGRATION = PROJECT_TEMPLATE / "src" / "{{cookiecutter.package_name}}" / "sqlmesh_integration"
ADR = PROJECT_TEMPLATE / "docs" / "adr" / "0012-integration-layers.md"

LAYERS = ("vocabulary", "execution", "project", "runs", "reporting", "environments", "definitions")
"""The sub-packages from the bottom up: each may import those before it, never those after."""

MAX_MODULE_LINES = 400
MAX_CLASS_LINES = 300
MAX_FUNCTION_LINES = 90


@dataclass(frozen=True)
class LayerImport:
    """One import of a module inside the integration, resolved to the layer it reaches."""

    source: Path
    line: int
    importer: str | None
    """The importing module's layer; None at the integration's top (the component, the public API)."""
    target: str
    """The imported layer, or the name of a module at the integration's top."""


def integration_modules() -> list[Path]:
    return sorted(INTEGRATION.rglob("*.py"))


def layer_of(path: Path) -> str | None:
    parts = path.relative_to(INTEGRATION).parts
    return parts[0] if len(parts) > 1 else None


def imports_in(path: Path) -> Iterator[LayerImport]:
    """Every relative import of ``path``, including those under ``TYPE_CHECKING``: a type is a dependency too."""
    importer = layer_of(path)
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if not isinstance(node, ast.ImportFrom) or node.level == 0:
            continue
        first = (node.module or "").split(".")[0]
        if importer is not None and node.level == 1:
            target = importer
        elif node.level == (1 if importer is None else 2) and first:
            target = first
        else:
            target = "<above the integration>"
        yield LayerImport(path, node.lineno, importer, target)


def where(path: Path, line: int | None = None) -> str:
    relative = path.relative_to(INTEGRATION).as_posix()
    return f"sqlmesh_integration/{relative}" + (f":{line}" if line else "")


def layer_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {layer: set() for layer in LAYERS}
    for path in integration_modules():
        for found in imports_in(path):
            if found.importer is not None and found.target != found.importer:
                graph[found.importer].add(found.target)
    return graph


def test_the_sub_packages_are_the_declared_layers():
    packages = {path.parent.name for path in INTEGRATION.glob("*/__init__.py")}
    assert packages == set(LAYERS), f"sub-packages on disk {sorted(packages)}, declared {list(LAYERS)}"


def test_the_adr_declares_the_same_order():
    """The ADR's table lists the layers from the top down, one row each, the sub-package first."""
    rows = re.findall(r"^\| `(\w+)/` \|", ADR.read_text(encoding="utf-8"), flags=re.MULTILINE)
    assert rows == list(reversed(LAYERS)), f"{ADR.name} lists {rows}, the test declares {list(LAYERS)}"


def test_the_adr_table_names_each_sub_package_s_modules():
    rows = re.findall(r"^\| `(\w+)/` \|[^|]*\|([^|]*)\|", ADR.read_text(encoding="utf-8"), flags=re.MULTILINE)
    wrong = []
    for layer, cell in rows:
        listed = set(re.findall(r"`(\w+\.py)`", cell))
        on_disk = {path.name for path in (INTEGRATION / layer).glob("*.py")} - {"__init__.py"}
        if listed != on_disk:
            wrong.append(
                f"{ADR.name}, row {layer}/: lists {sorted(listed)}, the sub-package has {sorted(on_disk)}"
            )
    assert not wrong, "\n".join(wrong)


def test_each_layer_imports_only_itself_and_the_layers_below_it():
    upward = []
    for path in integration_modules():
        for found in imports_in(path):
            if found.importer is None:
                continue
            allowed = LAYERS[: LAYERS.index(found.importer) + 1]
            if found.target not in allowed:
                upward.append(
                    f"{where(path, found.line)}: layer {found.importer} imports {found.target}; "
                    f"it may import only {', '.join(allowed)}"
                )
    assert not upward, "\n".join(upward)


def test_no_cycle_between_sub_packages():
    """Checked on the graph itself, not only against the order: a wrong order must not hide a cycle."""
    graph = layer_graph()
    done: set[str] = set()

    def cycle_from(layer: str, path: list[str]) -> list[str] | None:
        if layer in path:
            return path[path.index(layer) :] + [layer]
        if layer in done or layer not in graph:
            return None
        for target in sorted(graph[layer]):
            if found := cycle_from(target, [*path, layer]):
                return found
        done.add(layer)
        return None

    cycles = {frozenset(cycle): cycle for layer in LAYERS if (cycle := cycle_from(layer, []))}
    assert not cycles, "\n".join(" -> ".join(cycle) for cycle in cycles.values())


def test_every_sub_package_says_its_job_and_what_it_may_import():
    problems = []
    for position, layer in enumerate(LAYERS):
        init = INTEGRATION / layer / "__init__.py"
        docstring = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) or ""
        if not docstring:
            problems.append(f"{where(init)}: no docstring (its job, and which sub-packages it may import)")
            continue
        imports = docstring.partition("May import:")[2]
        named = set(re.findall(r"\.\.(\w+)", imports))
        if not imports or named != set(LAYERS[:position]):
            problems.append(
                f"{where(init)}: its docstring's 'May import:' names {sorted(named)}, "
                f"the layers below it are {sorted(LAYERS[:position])}"
            )
    assert not problems, "\n".join(problems)


def spans(tree: ast.AST) -> Iterator[tuple[ast.AST, int]]:
    """Every class and function with its length in lines, decorators and docstring included."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = min([node.lineno, *(decorator.lineno for decorator in node.decorator_list)])
            yield node, node.end_lineno - first + 1


@pytest.mark.parametrize("path", integration_modules(), ids=lambda path: where(path))
def test_modules_classes_and_functions_stay_small(path: Path):
    source = path.read_text(encoding="utf-8")
    too_long = []
    lines = len(source.splitlines())
    if lines > MAX_MODULE_LINES:
        too_long.append(f"{where(path)}: module of {lines} lines (limit {MAX_MODULE_LINES})")
    for node, length in spans(ast.parse(source, filename=str(path))):
        kind, limit = (
            ("class", MAX_CLASS_LINES) if isinstance(node, ast.ClassDef) else ("function", MAX_FUNCTION_LINES)
        )
        if length > limit:
            too_long.append(
                f"{where(path, node.lineno)}: {kind} {node.name} of {length} lines (limit {limit})"
            )
    assert not too_long, "\n".join(too_long)
