"""Draftroom's DOCX and HTML keep every construct pandoc's keep, for the same content.

The table in docs/EXPORT.md is this comparison's output (``bench/export_vs_pandoc.py``).
"""

from __future__ import annotations

from bench.export_vs_pandoc import CHECKS, compare

from .conftest import require


def test_draftroom_keeps_everything_pandoc_keeps() -> None:
    require("pandoc")
    rows, lost = compare()
    assert not lost
    assert len(rows) == len(CHECKS)
    # The comparison can see a loss at all: pandoc's own DOCX drops these.
    docx_lost_by_pandoc = {name for name, pandoc_docx, *_ in rows if not pandoc_docx}
    assert "list inside a quote" in docx_lost_by_pandoc
