"""The import graph inside components/ has no cycle, read from the source with `ast`.

An edge goes from a module to each components module it imports, at module level or inside a function.
A runtime import also runs the `__init__` of every package above the imported module (except the
importer's own packages, which are initialised before it), so it is an edge to those too; an import
under `if TYPE_CHECKING:` is only read by the type checker, which resolves the module alone.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "components"


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted((ROOT / PACKAGE).rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, module: str, is_package: bool) -> Iterator[tuple[str, bool]]:
    """(imported name, at runtime) for each import in the tree; `from x import y` gives x.y and x."""

    def walk(node: ast.AST, runtime: bool) -> Iterator[tuple[str, bool]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for stmt in child.body:
                    yield from walk_one(stmt, False)
                for stmt in child.orelse:
                    yield from walk_one(stmt, runtime)
            else:
                yield from walk_one(child, runtime)

    def walk_one(node: ast.AST, runtime: bool) -> Iterator[tuple[str, bool]]:
        if isinstance(node, ast.Import):
            yield from ((alias.name, runtime) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                here = module.split(".") if is_package else module.split(".")[:-1]
                anchor = here[: len(here) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            yield base, runtime
            yield from ((f"{base}.{alias.name}", runtime) for alias in node.names)
        yield from walk(node, runtime)

    yield from walk(tree, True)


def import_graph() -> dict[str, set[str]]:
    """{module: the components modules it depends on}, by the rules in the module docstring."""
    modules = _modules()
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        own = {".".join(module.split(".")[:i]) for i in range(1, module.count(".") + 2)}
        for name, runtime in _imports(tree, module, path.name == "__init__.py"):
            if name not in modules:
                continue  # outside components/, or a name inside a module (handled by its module)
            graph[module].add(name)
            if runtime:
                parts = name.split(".")
                graph[module].update(
                    p for i in range(1, len(parts)) if (p := ".".join(parts[:i])) in modules and p not in own
                )
        graph[module].discard(module)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_graph_sees_the_imports_it_must() -> None:
    graph = import_graph()
    assert "components.spec.document" in graph["components.rules"]  # under TYPE_CHECKING
    assert "components.rules" in graph["components.spec.build"]
    assert "components.spec" in graph["components.environment"]
    assert "components.spec.build" in graph["components.spec"]


def test_the_finder_reports_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_components_have_no_import_cycle() -> None:
    assert cycles(import_graph()) == []
