"""The layering of docs/architecture.md holds for every import in src/, and nothing imports
itself back: the table in the document is the rule, this test reads it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "scalinglab"
DOC = ROOT / "docs" / "architecture.md"


def rules() -> tuple[list[tuple[str, list[str]]], dict[str, list[str]]]:
    """(layer, module prefixes) in order, and each layer's allowed imports, from the doc."""
    table = [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in DOC.read_text().splitlines()
        if line.startswith("| ") and not line.startswith("| layer")
    ]
    layers, allowed = [], {}
    for layer, modules, may_import, _owns in table:
        layers.append((layer, re.findall(r"`([\w.]+)`", modules)))
        allowed[layer] = [m.strip() for m in may_import.split(",")]
    return layers, allowed


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts)  # "__init__" stays: the package root is "__init__"


#: Every module of the package and its source.
SOURCES = {module_name(p): p.read_text() for p in sorted(SRC.rglob("*.py"))}


def imports(name: str, source: str) -> list[tuple[str, int]]:
    """Every scalinglab module ``name`` imports, as a dotted name inside the package."""
    package = name.split(".")[:-1]  # the package a relative import starts from
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[: len(package) - (node.level - 1)]
            target = [*base, *(node.module.split(".") if node.module else [])]
            for alias in node.names:
                found.append((".".join([*target, alias.name]), node.lineno))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("scalinglab"):
            target = node.module.split(".")[1:]
            for alias in node.names:
                found.append((".".join([*target, alias.name]), node.lineno))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("scalinglab."):
                    found.append((alias.name.split(".", 1)[1], node.lineno))
    return found


def resolve(target: str, modules: dict[str, str]) -> str:
    """The module a dotted import names (``fitting.result.FitResult`` -> ``fitting.result``)."""
    while target and target not in modules and f"{target}.__init__" not in modules:
        target = target.rpartition(".")[0]
    return target


def layer_of(module: str, layers: list[tuple[str, list[str]]]) -> str:
    for layer, prefixes in layers:
        for prefix in prefixes:
            if module == prefix or module.startswith(prefix + "."):
                return layer
    raise AssertionError(f"module {module!r} belongs to no layer of docs/architecture.md")


def allows(rule: list[str], module: str, layers: list[tuple[str, list[str]]]) -> bool:
    for entry in rule:
        if "." in entry:  # one module of a layer
            if module == entry or module.startswith(entry + "."):
                return True
        elif layer_of(module, layers) == entry:
            return True
    return False


def violations(modules: dict[str, str]) -> list[str]:
    """Imports of ``modules`` (name -> source) that the architecture doc does not allow."""
    layers, allowed = rules()
    broken = []
    for here, source in modules.items():
        mine = layer_of(here, layers)
        for target, line in imports(here, source):
            module = resolve(target, modules)
            if not module or layer_of(module, layers) == mine:
                continue
            if not allows(allowed[mine], module, layers):
                broken.append(f"{here}:{line}: {mine} imports {module}")
    return broken


def test_every_import_follows_the_layering_of_the_architecture_doc():
    broken = violations(SOURCES)
    assert not broken, "imports that break docs/architecture.md:\n" + "\n".join(broken)


def test_the_rule_catches_a_planted_violation():
    """The checker is not vacuous: the fitting layer importing the report, even inside a
    function, is reported with its line."""
    planted = {**SOURCES, "fitting.planted": "def f():\n    from ..report import render_report\n"}
    assert violations(planted) == ["fitting.planted:2: fitting imports report"]


def test_no_module_imports_itself_back_through_others():
    graph = {
        name: {resolve(t, SOURCES) for t, _ in imports(name, source)} - {"", name}
        for name, source in SOURCES.items()
    }
    # A package's __init__ is imported by its submodules' import anyway: edges to it from
    # inside the package are part of the package, not a cycle through it.
    for name, targets in graph.items():
        graph[name] = {t for t in targets if not (t.endswith("__init__") and
                       name.startswith(t.removesuffix("__init__")))}  # fmt: skip
    cycles = strongly_connected(graph)
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(sorted(c)) for c in cycles)


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative; the components of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in graph:
                    continue
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    component.append(top)
                    if top == node:
                        break
                if len(component) > 1:
                    found.append(component)
    return found


def test_the_command_line_starts_without_the_numeric_stack():
    """`scalinglab --help` must stay quick: importing the CLI loads no pandas, numpy or torch
    (each command imports what it needs when it runs). A module-level import of
    ``scalinglab.runs`` in a cli module once made --help 4x slower than typer alone."""
    import os
    import subprocess
    import sys

    code = (
        "import sys, scalinglab.cli; "
        "heavy = [m for m in ('pandas', 'numpy', 'torch', 'scipy', 'matplotlib') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
