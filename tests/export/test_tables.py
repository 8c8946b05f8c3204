"""Table layout shared by the DOCX, RTF and Markdown writers (``export/tables.py``)."""

from __future__ import annotations

import io
import zipfile

from draftroom.document.tree import Document, Paragraph, Table, TableCell, TableRow, Text
from draftroom.export import ExportOptions, export_documents
from draftroom.export.tables import grid, header_rows


def cell(text: str, colspan: int = 1, rowspan: int = 1, header: bool = False) -> TableCell:
    return TableCell([Paragraph([Text(text)])], header, colspan, rowspan)


def test_spans_are_laid_out_as_html_does() -> None:
    table = Table(
        [
            TableRow([cell("H1", header=True), cell("H2", colspan=2, header=True)]),
            TableRow([cell("tall", rowspan=2), cell("b"), cell("c")]),
            TableRow([cell("d")]),  # short row: its second slot stays empty
        ]
    )
    slots = grid(table)
    names = [[s.cell.children[0].children[0].text if s else None for s in row] for row in slots]  # type: ignore[union-attr]
    assert names == [["H1", "H2", "H2"], ["tall", "b", "c"], ["tall", "d", None]]
    assert header_rows(table) == 1


def test_overlapping_spans_are_cut_so_docx_can_merge_them() -> None:
    # Found by the property test: a column span running into a row span from above
    # made python-docx raise "requested span not rectangular".
    table = Table(
        [
            TableRow([cell("a"), cell("b"), cell("down", rowspan=4)]),
            TableRow([cell("wide", colspan=3)]),
            TableRow([cell("e")]),
        ]
    )
    slots = grid(table)
    wide = slots[1][0]
    assert wide is not None and (wide.colspan, wide.rowspan) == (2, 1)
    down = slots[0][2]
    assert down is not None and down.rowspan == 3  # clipped at the last row
    for fmt in ("docx", "md", "scriv", "html"):
        data = export_documents([Document("T", [table])], fmt, ExportOptions())
        assert data
    with zipfile.ZipFile(io.BytesIO(export_documents([Document("T", [table])], "docx"))) as z:
        assert b"wide" in z.read("word/document.xml")
