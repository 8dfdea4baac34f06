"""The architecture's rules, checked on the code as it is.

Rule 1 of the design: nothing outside the Textual app imports Textual or Rich,
so ``--no-ui`` and every engine test run without them. The layer contracts
themselves are import-linter's (``lint-imports``, configured in
pyproject.toml); here we also check that no two modules import each other,
directly or around a loop.
"""

from __future__ import annotations

import subprocess
import sys

import grimp


def test_nothing_outside_the_app_imports_textual():
    code = (
        "import importlib, pkgutil, sys\n"
        "import stormdb_tui\n"
        "names = [m.name for m in pkgutil.walk_packages(stormdb_tui.__path__, 'stormdb_tui.')]\n"
        "names = [n for n in names if not n.startswith('stormdb_tui.tui') and n != 'stormdb_tui.__main__']\n"
        "assert len(names) > 40, names\n"
        "for name in names:\n"
        "    importlib.import_module(name)\n"
        "from stormdb_tui.registry import discover\n"
        "discover()\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich'))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"imported outside the app: {result.stdout}"


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), imports inside functions included."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(module: str) -> None:
        nonlocal counter
        index[module] = low[module] = counter
        counter += 1
        stack.append(module)
        on_stack.add(module)
        for other in graph.find_modules_directly_imported_by(module):
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in on_stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            group = []
            while True:
                other = stack.pop()
                on_stack.discard(other)
                group.append(other)
                if other == module:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


def test_no_import_cycles():
    graph = grimp.build_graph("stormdb_tui")
    assert len(graph.modules) > 40
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    graph = grimp.ImportGraph()
    for name in ("a", "a.x", "a.y", "a.z"):
        graph.add_module(name)
    graph.add_import(importer="a.x", imported="a.y")
    graph.add_import(importer="a.y", imported="a.x")
    graph.add_import(importer="a.y", imported="a.z")
    assert _cycles(graph) == [["a.x", "a.y"]]
