from __future__ import annotations

import json
import re
from pathlib import Path

from draftroom.document.tree import Document
from draftroom.export import ExportOptions, export_documents

from .conftest import NOW, run
from .samples import is_subsequence, source_words, words


def font_rows(pdf: Path) -> list[list[str]]:
    lines = run("pdffonts", str(pdf)).splitlines()[2:]
    return [line.split() for line in lines if line.strip()]


def test_qpdf_check_passes(pdf_file: Path) -> None:
    assert "No syntax or stream encoding errors" in run("qpdf", "--check", str(pdf_file))


def test_every_font_is_embedded(pdf_file: Path) -> None:
    rows = font_rows(pdf_file)
    assert rows, "no fonts at all"
    for row in rows:
        # columns: name type... encoding emb sub uni id gen; emb is the 5th from the end
        assert row[-5] == "yes", f"font not embedded: {row}"
    assert any("Liberation-Serif" in row[0] for row in rows)


def test_text_comes_out_in_order(pdf_file: Path, docs: list[Document]) -> None:
    # -raw keeps content-stream order; the layout mode reorders justified lines.
    text = run("pdftotext", "-raw", "-enc", "UTF-8", str(pdf_file), "-")
    found = words(text)
    expected = source_words(docs)
    assert is_subsequence(expected, found), sorted(set(expected) - set(found))
    assert "Contents" in text
    layout = run("pdftotext", "-enc", "UTF-8", str(pdf_file), "-")  # -raw omits list markers
    assert re.search(r"5\.\s+Fifth\s+6\.\s+Sixth", layout)  # the list restarts at 5


def test_page_setup_toc_and_bookmarks(pdf_file: Path) -> None:
    info = run("pdfinfo", str(pdf_file))
    assert "595.276 x 841.89" in info or "595.28 x 841.89" in info  # A4
    assert re.search(r"Author:\s+Ana Ñ", info) and re.search(r"Title:\s+Chapter One", info)
    outline = json.loads(run("qpdf", "--json", "--json-key=outlines", str(pdf_file)))["outlines"]
    titles = [o["title"] for o in outline]
    assert titles == ["Chapter One", "Plain Y.Text", "Empty"]
    assert [c["title"] for c in outline[0]["kids"]] == ["Chapter One: Départ 🚀"]
    toc_page = run("pdftotext", "-f", "2", "-l", "2", str(pdf_file), "-")
    # Each TOC entry ends with the page its document starts on (target-counter).
    assert [line.split()[-1] for line in toc_page.splitlines() if "....." in line] == [
        "3",
        "5",
        "6",
    ]


def test_modern_theme_letter_manuscript(docs: list[Document], tmp_path: Path) -> None:
    modern = tmp_path / "modern.pdf"
    modern.write_bytes(
        export_documents(docs, "pdf", ExportOptions(theme="modern", page_size="Letter", now=NOW))
    )
    assert "612 x 792" in run("pdfinfo", str(modern))
    assert any("Liberation-Sans" in row[0] for row in font_rows(modern))
    manuscript = tmp_path / "ms.pdf"
    manuscript.write_bytes(export_documents(docs, "pdf", ExportOptions(manuscript=True, now=NOW)))
    text = run("pdftotext", str(manuscript), "-")
    assert "#" in text.split()  # scene break


def test_html_export_is_self_contained(docs: list[Document]) -> None:
    page = export_documents(docs, "html", ExportOptions(toc=True)).decode("utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert "<strong><em>Zürich</em></strong>" in page
    assert '<ol start="5"' in page and "<u>Underlined</u>" in page
    assert "&lt;tags&gt;" in page  # escaped, never markup
    assert "target-counter" in page and "string-set" in page
    assert 'href="https://example.com/a?b=1&amp;c=2"' in page


def test_unsafe_links_are_neutralised() -> None:
    from draftroom.document.tree import Mark, Paragraph, Text

    doc = Document(
        "x", [Paragraph([Text("click", frozenset({Mark("link", "javascript:alert(1)")}))])]
    )
    page = export_documents([doc], "html").decode()
    assert "javascript:" not in page
