"""The package layout: no import cycle (imports inside functions count too) and no
private name imported from another module."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "microsim"


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _imports(modules: dict[str, Path]):
    """(module, imported module, imported name) for every microsim import, TYPE_CHECKING blocks aside."""
    def owner(name):
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name

    for module, path in modules.items():
        tree = ast.parse(path.read_text())
        typing_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If)
                       and getattr(block.test, "id", None) == "TYPE_CHECKING" for n in ast.walk(block)}
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    root = package
                    for _ in range(node.level - 1):
                        root = root.rpartition(".")[0]
                    base = f"{root}.{base}" if base else root
                if base.startswith("microsim"):
                    for alias in node.names:
                        full = f"{base}.{alias.name}"
                        yield module, owner(full if full in modules else base), alias.name
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("microsim"):
                        yield module, owner(alias.name), None


def test_no_import_cycles():
    modules = _modules()
    graph = {m: set() for m in modules}
    for module, target, _ in _imports(modules):
        if target and target != module:
            graph[module].add(target)
    state: dict[str, int] = {}
    cycle: list[str] = []

    def visit(node, trail):
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle.extend(trail[trail.index(nxt):] + [node, nxt] if nxt in trail else [node, nxt])
                return True
            if nxt not in state and visit(nxt, trail + [node]):
                return True
        state[node] = 2
        return False

    for node in sorted(graph):
        if node not in state and visit(node, []):
            break
    assert not cycle, " -> ".join(cycle)


def test_no_private_names_across_modules():
    modules = _modules()
    crossing = [(m, t, n) for m, t, n in _imports(modules)
                if n and n.startswith("_") and not n.startswith("__") and t != m]
    assert not crossing, crossing
    assert not [m for m in modules if m.rpartition(".")[2].startswith("_") and not m.endswith("__init__")]
