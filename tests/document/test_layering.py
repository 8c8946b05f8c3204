"""The document model sits between the features and the store: agents and export both
read documents through it, and it imports nothing above it."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "draftroom"


def imports(folder: str) -> set[tuple[str, str]]:
    """(file, imported module) for every absolute import under draftroom/<folder>."""
    found: set[tuple[str, str]] = set()
    for path in (PACKAGE / folder).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.add((path.name, node.module))
            elif isinstance(node, ast.Import):
                found.update((path.name, alias.name) for alias in node.names)
    return found


def test_agents_do_not_import_export() -> None:
    assert [i for i in imports("agents") if i[1].startswith("draftroom.export")] == []


def test_document_imports_only_the_store_below_it() -> None:
    # crdt/update_check is a leaf that only parses update bytes: stored updates are
    # checked with it before they are applied.
    allowed = ("draftroom.document", "draftroom.store", "draftroom.crdt.update_check")
    inner = sorted(i for i in imports("document") if i[1].startswith("draftroom."))
    assert inner, "the scan must see the package's own imports"
    assert [i for i in inner if not i[1].startswith(allowed)] == []
