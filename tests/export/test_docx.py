from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import docx
from docx.enum.text import WD_LINE_SPACING
from docx.shared import Mm, Pt

from draftroom.document.tree import BOLD, ITALIC

from .conftest import Artifacts, run
from .samples import marked_word_count


def pandoc_json(path: Any) -> dict[str, Any]:
    return json.loads(run("pandoc", "-f", "docx", "-t", "json", str(path)))


def walk(node: Any, inside: tuple[str, ...] = ()) -> Any:
    """Yield (type, node, enclosing types) for every pandoc AST element."""
    if isinstance(node, dict) and "t" in node:
        yield node["t"], node, inside
        inside = (*inside, node["t"])
        node = node.get("c")
    if isinstance(node, list | dict):
        for child in node.values() if isinstance(node, dict) else node:
            yield from walk(child, inside)


def test_libreoffice_opens_every_docx(artifacts: Artifacts) -> None:
    for name, pdf in artifacts.docx_pdf.items():
        assert pdf.exists() and pdf.stat().st_size > 1000, f"LibreOffice could not load {name}.docx"
        text = run("pdftotext", str(pdf), "-")
        assert "Zürich" in text and "Williams" in text and "ümlauts" in text


def test_pandoc_sees_structure_and_formatting(artifacts: Artifacts) -> None:
    ast = pandoc_json(artifacts.docx["default"])
    nodes = list(walk(ast["blocks"]))
    headers = [(n["c"][0]) for t, n, _ in nodes if t == "Header"]
    assert headers == [1, 2, 3]
    assert sum(1 for t, _, _ in nodes if t == "BlockQuote") == 1
    ordered = [n["c"][0][0] for t, n, _ in nodes if t == "OrderedList"]
    assert ordered == [1, 5]  # each list restarts at its own start
    bullets = [inside for t, _, inside in nodes if t == "BulletList"]
    assert len(bullets) == 2 and "BulletList" in bullets[1]  # nested inside the first
    strong = sum(1 for t, _, inside in nodes if t == "Str" and "Strong" in inside)
    emph = sum(1 for t, _, inside in nodes if t == "Str" and "Emph" in inside)
    assert strong == marked_word_count(artifacts.docs, BOLD)
    assert emph == marked_word_count(artifacts.docs, ITALIC)
    links = [n["c"][2][0] for t, n, _ in nodes if t == "Link"]
    assert links == ["https://example.com/a?b=1&c=2"]
    assert any(t == "Underline" for t, _, _ in nodes)
    assert any(t == "Strikeout" for t, _, _ in nodes)
    assert ast["meta"]["title"]["c"][0]["c"] == "Chapter"  # first Title paragraph


def test_styles_properties_and_page_setup(artifacts: Artifacts) -> None:
    document = docx.Document(str(artifacts.docx["default"]))
    styles = [p.style.name for p in document.paragraphs]
    for name in (
        "Title",
        "Heading 1",
        "Heading 2",
        "Heading 3",
        "Quote",
        "List Bullet",
        "List Bullet 2",
        "List Number",
        "Source Code",
        "Scene Break",
    ):
        assert name in styles, name
    titles = [p for p in document.paragraphs if p.style.name == "Title"]
    assert [t.paragraph_format.page_break_before for t in titles] == [False, True, True]
    props = document.core_properties
    assert (props.title, props.author) == ("Chapter One", "Ana Ñ")
    assert props.created is not None and props.created.year == 2026
    section = document.sections[0]
    assert abs(section.page_width - Mm(210)) < Mm(1) and abs(section.left_margin - Mm(25)) < Mm(1)
    with zipfile.ZipFile(artifacts.docx["default"]) as z:
        xml = z.read("word/document.xml").decode()
        rels = z.read("word/_rels/document.xml.rels").decode()
    assert "<w:hyperlink" in xml and "https://example.com/a?b=1&amp;c=2" in rels


def test_manuscript_format(artifacts: Artifacts) -> None:
    document = docx.Document(str(artifacts.docx["manuscript"]))
    normal = document.styles["Normal"]
    assert normal.font.size == Pt(12)
    assert normal.paragraph_format.line_spacing_rule == WD_LINE_SPACING.DOUBLE
    assert normal.paragraph_format.first_line_indent is not None
    breaks = [p for p in document.paragraphs if p.style.name == "Scene Break"]
    assert [p.text for p in breaks] == ["#"]
    info = run("pdfinfo", str(artifacts.docx_pdf["manuscript"]))
    assert "612 x 792" in info  # Letter


def test_data_uri_image_is_embedded() -> None:
    import base64

    from draftroom.document.tree import Document, Image
    from draftroom.export import ExportOptions, export_documents

    png = base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
    )
    src = "data:image/png;base64," + base64.b64encode(png).decode()
    data = export_documents([Document("Pic", [Image(src, "dot")])], "docx", ExportOptions())
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert any(n.startswith("word/media/") for n in z.namelist())
