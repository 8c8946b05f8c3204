"""The repository's import graph, checked: which code may import which.

Rules are rows in ``RULES``: a folder, the modules code in it must not import, why, and
the paths under the folder that are exempt (e.g. ``Rule("draftroom", ("draftroom.server",),
"...", exempt=("draftroom/server", "draftroom/cli.py"))``). A rule matches an import of a
module itself or of anything below it (``tests`` matches ``tests.x``). Imports are read
with ``ast``, so strings and comments do not count, and imports under
``if TYPE_CHECKING:`` are skipped (they never run).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SKIP_DIRS = {".venv", "node_modules", ".git", "__pycache__", ".mypy_cache", ".ruff_cache"}

# Modules that only exist because pytest puts tests/ on sys.path: importing one of them from
# outside tests/ means importing the test suite.
TEST_MODULES = tuple(
    sorted(
        p.stem if p.is_file() else p.name
        for p in (REPO / "tests").iterdir()
        if (p.suffix == ".py" or (p.is_dir() and not p.name.startswith((".", "_"))))
        and p.name not in {"js", "__pycache__"}
    )
)


@dataclass(frozen=True)
class Rule:
    folder: str  # relative to the repository root
    forbidden: tuple[str, ...]  # module names (and everything below them)
    why: str
    exempt: tuple[str, ...] = ()  # paths under ``folder`` the rule does not apply to


# The command-line entry points may build a server; no other product code may.
CLI_FILES = tuple(
    p.relative_to(REPO).as_posix() for p in sorted((REPO / "draftroom").glob("cli*.py"))
)

RULES: list[Rule] = [
    Rule("deploy", ("tests", *TEST_MODULES), "deployment tools must not need the test suite"),
    Rule("devtools", ("tests", *TEST_MODULES), "the test-support package stands alone"),
    Rule("bench", ("tests", *TEST_MODULES), "benchmarks use devtools, not the test suite"),
    Rule("loadtests", ("tests", *TEST_MODULES), "load tests use devtools, not the test suite"),
    Rule("draftroom", ("devtools", "tests"), "the product never depends on test support"),
    Rule(
        "draftroom",
        ("draftroom.server",),
        "the HTTP/WebSocket edge sits on top: only it and the CLI may import it",
        exempt=("draftroom/server", *CLI_FILES),
    ),
    Rule(
        "draftroom/auth",
        ("starlette", "draftroom.server"),
        "auth is a domain package: the server edge reads sockets and requests for it",
    ),
    Rule(
        "draftroom/agents",
        ("draftroom.export",),
        "agents read documents through draftroom.document, not the export writers",
    ),
]


def python_files(folder: Path = REPO) -> list[Path]:
    out = []
    for path in folder.rglob("*.py"):
        if not SKIP_DIRS.intersection(path.relative_to(REPO).parts):
            out.append(path)
    return sorted(out)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) for each runtime import in ``path``; relative imports
    stay inside their own package and are left out."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[int, str]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def violations(rule: Rule) -> list[str]:
    root = REPO / rule.folder
    out = []
    for path in python_files(root) if root.is_dir() else []:
        relative = path.relative_to(REPO).as_posix()
        if any(relative == e or relative.startswith(e.rstrip("/") + "/") for e in rule.exempt):
            continue
        for line, module in imported_modules(path):
            for bad in rule.forbidden:
                if module == bad or module.startswith(bad + "."):
                    out.append(f"{path.relative_to(REPO)}:{line} imports {module}")
    return out


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.folder)
def test_import_rules(rule: Rule) -> None:
    found = violations(rule)
    assert not found, f"{rule.folder}/: {rule.why}:\n" + "\n".join(found)


def test_no_sys_path_manipulation() -> None:
    # Helpers are importable because devtools is installed; a path hack hides a missing
    # dependency and makes module identity depend on how a script was started.
    needles = ("sys.path." + "insert", "sys.path." + "append")
    hits = [
        f"{path.relative_to(REPO)}:{n}"
        for path in python_files()
        for n, text in enumerate(path.read_text().splitlines(), 1)
        if any(needle in text for needle in needles)
    ]
    assert not hits, "sys.path is changed in:\n" + "\n".join(hits)


def draftroom_graph() -> dict[str, set[str]]:
    """Module -> the draftroom modules it imports at run time (``from pkg import mod``
    counts as importing ``pkg.mod``); imports under TYPE_CHECKING are left out."""
    modules: dict[str, Path] = {}
    for path in python_files(REPO / "draftroom"):
        parts = path.relative_to(REPO).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found = {m for _, m in imported_modules(path) if m in modules}
        for node in _runtime_nodes(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.update(
                    f"{node.module}.{a.name}"
                    for a in node.names
                    if f"{node.module}.{a.name}" in modules
                )
        graph[name] = found - {name}
    return graph


def _runtime_nodes(node: ast.AST) -> list[ast.AST]:
    if isinstance(node, ast.If) and _is_type_checking(node.test):
        return [n for child in node.orelse for n in _runtime_nodes(child)]
    return [node, *(n for child in ast.iter_child_nodes(node) for n in _runtime_nodes(child))]


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return cycles


def test_no_import_cycles_in_draftroom() -> None:
    # A cycle makes import order matter and hides which layer depends on which; a
    # type-only need goes under TYPE_CHECKING, anything else is a sign to move code.
    graph = draftroom_graph()
    assert len(graph) > 100 and "draftroom.node" in graph["draftroom.server.app"]
    cycles = import_cycles(graph)
    detail = [
        " -> ".join(c) + "\n    " + ", ".join(f"{a}->{b}" for a in c for b in graph[a] if b in c)
        for c in cycles
    ]
    assert not cycles, "import cycles:\n" + "\n".join(detail)


def test_cycle_finder_sees_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert import_cycles(graph) == [["a", "b", "c"]]
    assert import_cycles({"a": {"b"}, "b": set()}) == []


def test_exempt_paths_are_skipped() -> None:
    everywhere = Rule("devtools", ("draftroom",), "probe")
    assert any("devtools/inprocess.py" in v for v in violations(everywhere))
    exempted = Rule("devtools", ("draftroom",), "probe", exempt=("devtools/inprocess.py",))
    assert not any("devtools/inprocess.py" in v for v in violations(exempted))


def test_the_rules_see_a_violation(tmp_path: Path) -> None:
    # The checks must not pass vacuously: a forbidden import is found, a TYPE_CHECKING one
    # is not.
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from typing import TYPE_CHECKING\nimport services\nfrom tests.x import y\n"
        "if TYPE_CHECKING:\n    import jsclient\n"
    )
    assert imported_modules(probe) == [(1, "typing"), (2, "services"), (3, "tests.x")]
    assert "auth" in TEST_MODULES and "conftest" in TEST_MODULES
