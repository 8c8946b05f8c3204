"""The editor's schema is StarterKit's, node for node and mark for mark.

``web/src/schema.ts`` lists StarterKit's extensions one by one so the editor route
ships less JavaScript; the documents, the server's reader and the exports depend on
the schema staying the same. ``schema_same.mjs`` builds both schemas with the real
TipTap packages (Node, no browser) and prints their specs, functions as source text.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _schemas(tmp_path: Path) -> dict[str, Any]:
    if shutil.which("node") is None or not (ROOT / "web" / "node_modules" / "rolldown").is_dir():
        pytest.skip("node and web/node_modules are needed (scripts/build-web installs them)")
    out = subprocess.run(
        ["node", str(ROOT / "tests" / "web" / "schema_same.mjs"), str(tmp_path)],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return dict(json.loads(out.stdout))


def test_the_editor_schema_is_starter_kits(tmp_path: Path) -> None:
    s = _schemas(tmp_path)
    names = [n["name"] for n in s["starterKit"]["nodes"]]
    marks = [m["name"] for m in s["starterKit"]["marks"]]
    assert {"doc", "paragraph", "heading", "bulletList", "codeBlock", "hardBreak"} <= set(names)
    assert {"bold", "italic", "link", "underline", "code"} <= set(marks)
    assert [n["name"] for n in s["app"]["nodes"]] == names
    assert [m["name"] for m in s["app"]["marks"]] == marks
    for kind in ("nodes", "marks"):
        for ours, theirs in zip(s["app"][kind], s["starterKit"][kind], strict=True):
            assert ours == theirs, ours["name"]
