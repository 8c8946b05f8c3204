"""Dependencies point inward: the node and the Feature contract know nothing of the
features above them or of the HTTP edge (checked in a fresh interpreter each)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

ABOVE_THE_NODE = (
    "draftroom.server",
    "draftroom.auth",
    "draftroom.agents",
    "draftroom.export",
    "draftroom.analytics",
    "starlette",
)


@pytest.mark.parametrize(
    ("module", "allowed"),
    [
        ("draftroom.node", ()),
        ("draftroom.features", ()),
        ("draftroom.crdt.rooms", ()),
        # A feature may use the contract, but not the edge or other features.
        ("draftroom.analytics.recorder", ("draftroom.analytics",)),
        ("draftroom.analytics.editing", ("draftroom.analytics",)),
        # Auth is a domain package: no Starlette, no server, no other feature.
        ("draftroom.auth.service", ("draftroom.auth",)),
        ("draftroom.auth.revocation", ("draftroom.auth",)),
    ],
)
def test_lower_layers_import_nothing_above_them(module: str, allowed: tuple[str, ...]) -> None:
    code = f"import json, sys, {module}; print(json.dumps(sorted(sys.modules)))"
    loaded = json.loads(subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout)  # fmt: skip
    above = [
        m for m in loaded if m.startswith(ABOVE_THE_NODE) and not m.startswith(allowed or ("\0",))
    ]
    assert above == [], f"{module} imports {above}"
