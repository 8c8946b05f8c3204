"""One test per export defect found by trying every TipTap node and mark as a new user.

Each test failed before its fix; they use only the public export API, so they can be
run against older code unchanged.
"""

from __future__ import annotations

import dataclasses
import io
import re
import zipfile
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from draftroom.document.reader import read_document
from draftroom.document.tree import Document, Heading, Paragraph, Text, split_scenes
from draftroom.export import FORMATS, ExportOptions, export_documents, export_zip
from draftroom.export.files import UniqueNames, safe_stem

from .builders import C, el, link, make_doc, p, txt, ul
from .builders import li as item
from .conftest import NOW, run
from .everything import png

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
CONTROLS = "vt\x0b ff\x0c esc\x1b bel\x07"


def docx_xml(data: bytes, part: str = "word/document.xml") -> ET.Element:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return ET.fromstring(z.read(part))


def test_docx_survives_control_characters_in_text_and_title() -> None:
    doc = read_document(make_doc(p("before " + CONTROLS + " after")), "Title\x0b\x1b")
    data = export_documents([doc], "docx", ExportOptions(now=NOW))  # was a 500
    texts = "".join(t.text or "" for t in docx_xml(data).iter(W + "t"))
    assert "before vt ff esc bel after" in texts and "Title" in texts


def test_docx_title_longer_than_255_characters() -> None:
    title = "Long " * 200
    doc = read_document(make_doc(p("body")), title)
    data = export_documents([doc], "docx", ExportOptions(now=NOW))
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        core = z.read("docProps/core.xml").decode()
    assert "Long Long" in core
    texts = "".join(t.text or "" for t in docx_xml(data).iter(W + "t"))
    assert title.strip() in texts  # the title page keeps it whole


def test_batch_zip_is_never_truncated_by_a_long_title() -> None:
    docs = [
        read_document(make_doc(p("one")), "One"),
        read_document(make_doc(p("two")), "T" * 400),
        read_document(make_doc(p("three")), "Three"),
    ]
    data = b"".join(export_zip(iter(docs), "docx", ExportOptions(now=NOW)))
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert z.testzip() is None
        names = z.namelist()
    assert len(names) == 3 and names[0] == "One.docx" and names[2] == "Three.docx"


def test_a_document_that_cannot_render_is_skipped_and_reported_inside_the_zip(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fmt = FORMATS["md"]
    original = fmt.render

    def render(docs: list[Document], options: ExportOptions) -> bytes:
        if docs[0].title == "Broken":
            raise ValueError("cannot render this one")
        return original(docs, options)

    monkeypatch.setitem(FORMATS, "md", dataclasses.replace(fmt, render=render))
    docs = [Document("One", [Paragraph([Text("a")])]), Document("Broken"), Document("Two")]
    data = b"".join(export_zip(iter(docs), "md"))
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert z.testzip() is None
        assert z.namelist() == ["One.md", "Two.md", "EXPORT-ERRORS.txt"]
        report = z.read("EXPORT-ERRORS.txt").decode()
    assert "Broken.md: not exported (ValueError: cannot render this one)" in report


def test_control_character_in_titles_keeps_scrivx_well_formed() -> None:
    doc = read_document(make_doc(p("text")), "Chapter\x0b One\x07")
    options = ExportOptions(author="Ann\x1b", project_title="Book\x0c", now=NOW)
    data = export_documents([doc], "scriv", options)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        scrivx = next(n for n in z.namelist() if n.endswith(".scrivx"))
        project = ET.fromstring(z.read(scrivx))  # raised ParseError before
    assert project.get("Author") == "Ann"
    titles = [t.text for t in project.iter("Title")]
    assert "Chapter One" in titles


def test_docx_inline_code_names_its_style_by_id() -> None:
    doc = read_document(make_doc(p("run ", ("code", C))), "Code")
    root = docx_xml(export_documents([doc], "docx", ExportOptions(now=NOW)))
    styles = {s.get(W + "val") for s in root.iter(W + "rStyle")}
    assert styles == {"VerbatimChar"}
    defined = docx_xml(export_documents([doc], "docx"), "word/styles.xml")
    ids = {s.get(W + "styleId") for s in defined.iter(W + "style")}
    assert styles <= ids


def test_file_names_are_limited_by_utf8_bytes() -> None:
    title = "日本語のタイトル" * 12  # 96 characters, 288 bytes
    stem = safe_stem(title)
    assert len(stem.encode("utf-8")) <= 200 and stem.startswith("日本語")
    names = UniqueNames()
    names.name(title, ".scriv.zip")
    second = names.name(title, ".scriv.zip")
    assert second.endswith(" (2).scriv.zip") and len(second.encode("utf-8")) <= 255
    # A cut never leaves half an emoji sequence or a dangling combining mark.
    assert len(safe_stem("👍🏽" * 80).encode()) <= 200


def test_file_names_drop_bidi_overrides_and_zero_width_characters() -> None:
    assert safe_stem("invoice\u202egpj.exe") == "invoicegpj.exe"
    assert safe_stem("a\u200bb\u2066c\u2069") == "abc"
    doc = read_document(make_doc(p("x")), "Report\u202etxt.exe")
    names = b"".join(export_zip([doc], "md"))
    with zipfile.ZipFile(io.BytesIO(names)) as z:
        assert z.namelist() == ["Reporttxt.exe.md"]


WORD_BOX = re.compile(
    r'<word xMin="([-\d.]+)" yMin="([-\d.]+)" xMax="([-\d.]+)" yMax="([-\d.]+)">(.*?)</word>'
)


def words_with_boxes(pdf: Path) -> list[tuple[float, float, float, float, float, str]]:
    """(page width, xMin, yMin, xMax, yMax, word) for every word pdftotext finds."""
    html = run("pdftotext", "-bbox", str(pdf), "-")
    out = []
    for page in re.split(r"<page ", html)[1:]:
        width = float(re.search(r'width="([\d.]+)"', page).group(1))  # type: ignore[union-attr]
        for m in WORD_BOX.finditer(page):
            x0, y0, x1, y1 = map(float, m.groups()[:4])
            out.append((width, x0, y0, x1, y1, m.group(5)))
    return out


def test_long_urls_stay_on_the_pdf_page(tmp_path: Path) -> None:
    url = "https://example.com/" + "x1y2z3" * 60
    doc = read_document(make_doc(p("See ", (url, link(url))), p("Bare " + url)), "URL")
    pdf = tmp_path / "url.pdf"
    pdf.write_bytes(export_documents([doc], "pdf", ExportOptions(now=NOW)))
    boxes = words_with_boxes(pdf)
    assert any("x1y2z3" in w[-1] for w in boxes)
    off = [w for w in boxes if w[1] < 0 or w[3] > w[0]]
    assert not off, off[:3]


def test_empty_paragraphs_keep_their_line_in_pdf_and_html(tmp_path: Path) -> None:
    def gap(blocks: list[object]) -> float:
        doc = read_document(make_doc(*blocks), "Gap")  # type: ignore[arg-type]
        pdf = tmp_path / "gap.pdf"
        pdf.write_bytes(export_documents([doc], "pdf", ExportOptions(now=NOW)))
        y = {w[-1]: w[2] for w in words_with_boxes(pdf)}
        return y["Below"] - y["Above"]

    without = gap([p("Above"), p("Below")])
    with_empty = gap([p("Above"), el("paragraph"), el("paragraph"), p("Below")])
    assert with_empty > without * 2
    html = export_documents([Document("E", [Paragraph([])])], "html").decode()
    assert "<p><br></p>" in html


def test_html_heading_levels_stay_distinct() -> None:
    blocks = [Heading(n, [Text(f"level{n}")]) for n in range(1, 7)]
    html = export_documents([Document("H", list(blocks))], "html").decode()
    tags = [re.search(rf"<(\w+)[^>]*>level{n}<", html).group(0) for n in range(1, 7)]  # type: ignore[union-attr]
    assert tags == [f"<h{n}>level{n}<" for n in range(1, 7)]


def test_pdf_headings_four_to_six_look_different() -> None:
    import weasyprint

    from draftroom.export.html import render_html

    blocks = [Heading(n, [Text(f"level{n}")]) for n in (4, 5, 6)]
    for theme in ("classic", "modern"):
        page = render_html([Document("H", list(blocks))], ExportOptions(theme=theme))
        rendered = weasyprint.HTML(string=page).render()
        looks = {}
        for pg in rendered.pages:
            for box in pg._page_box.descendants():
                text = getattr(box, "text", "")
                if text.startswith("level"):
                    s = box.style
                    looks[text] = (
                        s["font_size"],
                        s["font_weight"],
                        s["font_style"],
                        s["font_variant_caps"],
                    )
        assert len(set(looks.values())) == 3, (theme, looks)


def test_link_schemes_filtered_alike_in_every_format() -> None:
    doc = read_document(
        make_doc(p(("upper", link("HTTPS://EXAMPLE.ORG/X")), " ", ("js", link("javascript:x()")))),
        "Links",
    )
    html = export_documents([doc], "html").decode()
    assert 'href="HTTPS://EXAMPLE.ORG/X"' in html
    for fmt in ("md", "html"):
        assert "javascript" not in export_documents([doc], fmt).decode()
    with zipfile.ZipFile(io.BytesIO(export_documents([doc], "docx"))) as z:
        rels = z.read("word/_rels/document.xml.rels").decode()
    assert "HTTPS://EXAMPLE.ORG/X" in rels and "javascript" not in rels
    with zipfile.ZipFile(io.BytesIO(export_documents([doc], "scriv"))) as z:
        rtf = b"".join(z.read(n) for n in z.namelist() if n.endswith(".rtf")).decode()
    assert "HTTPS://EXAMPLE.ORG/X" in rtf and "javascript" not in rtf


def test_docx_images_have_their_size_and_alt_text() -> None:
    doc = read_document(
        make_doc(
            el("image", {"src": png(40, 20), "alt": "Grey box"}),
            el("image", {"src": png(40, 20), "alt": "Wider", "width": 200}),
            el("image", {"src": png(4000, 100), "alt": "Too wide"}),
        ),
        "Pictures",
    )
    root = docx_xml(export_documents([doc], "docx", ExportOptions(now=NOW)))
    wp = "{http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing}"
    described = [d.get("descr") for d in root.iter(wp + "docPr")]
    assert described == ["Grey box", "Wider", "Too wide"]
    widths = [int(e.get("cx", 0)) for e in root.iter(wp + "extent")]
    text_width = int((210 - 2 * 25) / 25.4 * 914400)
    assert widths[0] == 40 * 9525 and widths[1] == 200 * 9525
    assert abs(widths[2] - text_width) < 1000  # capped to the text width


def test_docx_list_inside_a_quote_stays_indented_as_quoted() -> None:
    doc = read_document(
        make_doc(el("blockquote", None, ul(item("quoted item"))), ul(item("plain item"))),
        "Quote",
    )
    root = docx_xml(export_documents([doc], "docx", ExportOptions(now=NOW)))

    def indent(text: str) -> int:
        para = next(
            p for p in root.iter(W + "p") if "".join(t.text or "" for t in p.iter(W + "t")) == text
        )
        ind = para.find(f"{W}pPr/{W}ind")
        return int(ind.get(W + "left", 0)) if ind is not None else 0

    assert indent("quoted item") > indent("plain item") + 400


def test_rtl_paragraphs_carry_their_direction() -> None:
    hebrew = "שלום עולם"
    doc = read_document(
        make_doc(p(hebrew), el("paragraph", {"dir": "rtl"}, txt("(explicit) " + hebrew))),
        "RTL",
    )
    root = docx_xml(export_documents([doc], "docx", ExportOptions(now=NOW)))
    bidi = [p for p in root.iter(W + "p") if p.find(f"{W}pPr/{W}bidi") is not None]
    assert len(bidi) == 2
    html = export_documents([doc], "html").decode()
    assert html.count('<p dir="rtl">') == 2
    with zipfile.ZipFile(io.BytesIO(export_documents([doc], "scriv"))) as z:
        rtf = b"".join(z.read(n) for n in z.namelist() if n.endswith(".rtf")).decode()
    assert rtf.count("\\rtlpar") == 2


def test_scrivener_rtf_has_real_lists_and_quotes() -> None:
    doc = read_document(
        make_doc(el("blockquote", None, p("quoted")), ul(item("a"), item("b"))),
        "Lists",
    )
    with zipfile.ZipFile(io.BytesIO(export_documents([doc], "scriv"))) as z:
        rtf = b"".join(z.read(n) for n in z.namelist() if n.endswith(".rtf")).decode()
    assert "{\\*\\listtable" in rtf and "{\\*\\listoverridetable" in rtf
    assert len(re.findall(r"\\ls1\\ilvl0", rtf)) == 2
    assert "Block Quote;}" in rtf and re.search(r"\\s7\\[^ ]* quoted", rtf)


def test_split_scenes_keeps_a_heading_that_has_no_body() -> None:
    doc = Document("Book", [Heading(1, [Text("One")]), Heading(1, [Text("Two")]), Paragraph()])
    assert [s.title for s in split_scenes(doc)] == ["One", "Two"]
