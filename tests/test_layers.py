"""Issue 12: nothing outside the API layer tests which API version is in use.

The import contracts (``lint-imports``, run by ``make lint``) keep the dialects out of reach of
the other layers; this test keeps the version tests out of their code.
"""

from __future__ import annotations

import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "exporter"
OUTSIDE_API = ("spec", "transport", "sinks", "pipeline", "cli")
VERSION_TEST = re.compile(
    r"""(==|!=)\s*["']v[12]["']|["']v[12]["']\s*(==|!=)|\bV2(Endpoint|Field|Kind)\b|"""
    r"""\bV[12]_ENDPOINTS\b|\bendpoint\.api\b|exporter\.api\.v[12]\b"""
)


def test_no_layer_outside_the_api_tests_the_api_version() -> None:
    found = [
        f"{path.relative_to(PACKAGE.parent)}:{number}: {line.strip()}"
        for layer in OUTSIDE_API
        for path in sorted((PACKAGE / layer).rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if VERSION_TEST.search(line)
    ]
    assert not found, "\n".join(found)


def test_the_pattern_finds_a_version_test() -> None:
    # The check above must be able to fail: each form it looks for is recognised.
    for line in (
        'if endpoint.api == "v2":',
        "if 'v1' != api:",
        "isinstance(endpoint, V2Endpoint)",
        "from exporter.api.v1.registry import V1_ENDPOINTS",
    ):
        assert VERSION_TEST.search(line), line


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for imported in graph[module]:
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def test_no_import_cycles_inside_the_package() -> None:
    import grimp  # import-linter's graph builder (a dev dependency)

    built = grimp.build_graph("exporter")
    modules = set(built.modules)  # the simulator included
    graph = {m: built.find_modules_directly_imported_by(m) & modules for m in modules}
    assert _cycles(graph) == []
    # the check can fail: a two-module cycle is found
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": set()}) == [["a", "b"]]
