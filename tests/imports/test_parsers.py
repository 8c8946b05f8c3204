"""Each parser on files as other programs write them, and the limits."""

from __future__ import annotations

import io
import zipfile

import docx
import pytest
from docx.enum.text import WD_BREAK, WD_COLOR_INDEX, WD_PARAGRAPH_ALIGNMENT
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Pt, RGBColor

from draftroom.document import tree
from draftroom.imports import ImportLimits, decode_text, detect_format, parse_file
from draftroom.imports.errors import Malformed, TooBig, Unsupported
from draftroom.imports.html import MAX_DEPTH, parse_html
from draftroom.imports.markdown import parse_markdown
from draftroom.imports.text import parse_text


def run(text: str, *marks: tree.Mark) -> tree.Text:
    return tree.Text(text, frozenset(marks))


def p(*children: tree.Text | tree.HardBreak, **kw: str) -> tree.Paragraph:
    return tree.Paragraph(list(children), **kw)  # type: ignore[arg-type]


# -- DOCX as Word writes it ---------------------------------------------------------------


def _field(paragraph: object, instruction: str, shown: str) -> None:
    element = paragraph._p  # type: ignore[attr-defined]
    for kind, text in (("begin", None), (None, instruction), ("separate", None)):
        r = OxmlElement("w:r")
        if kind:
            char = OxmlElement("w:fldChar")
            char.set(qn("w:fldCharType"), kind)
            r.append(char)
        else:
            instr = OxmlElement("w:instrText")
            instr.text = text
            r.append(instr)
        element.append(r)
    r = OxmlElement("w:r")
    t = OxmlElement("w:t")
    t.text = shown
    r.append(t)
    element.append(r)
    end = OxmlElement("w:r")
    char = OxmlElement("w:fldChar")
    char.set(qn("w:fldCharType"), "end")
    end.append(char)
    element.append(end)


def word_document() -> bytes:
    d = docx.Document()
    d.core_properties.title = "From Word"
    d.add_paragraph("Part", style="Heading 2")
    para = d.add_paragraph("plain ")
    para.add_run("bold").bold = True
    para.add_run(" ")
    para.add_run("italic").italic = True
    para.add_run(" ")
    para.add_run("under").underline = True
    para.add_run(" ")
    para.add_run("gone").font.strike = True
    para.add_run(" H")
    para.add_run("2").font.subscript = True
    para.add_run("O x")
    para.add_run("2").font.superscript = True
    para.add_run(" ")
    para.add_run("green").font.highlight_color = WD_COLOR_INDEX.BRIGHT_GREEN
    para.add_run(" ")
    para.add_run("red").font.color.rgb = RGBColor(0xC0, 0, 0)
    para.add_run(" ")
    _field(para, ' HYPERLINK "https://example.com/f" ', "field link")
    broken = d.add_paragraph("before page")
    broken.add_run().add_break(WD_BREAK.PAGE)
    broken.add_run("after page")
    broken.add_run().add_break()
    broken.add_run("next line")
    d.add_paragraph("A quotation.", style="Intense Quote")
    d.add_paragraph("first", style="List Number")
    d.add_paragraph("second", style="List Number")
    d.add_paragraph("dot", style="List Bullet")
    centred = d.add_paragraph("centred")
    centred.alignment = WD_PARAGRAPH_ALIGNMENT.CENTER
    rtl = d.add_paragraph("שלום")
    rtl._p.get_or_add_pPr().append(OxmlElement("w:bidi"))
    _field(d.add_paragraph(), ' TOC \\o "1-3" ', "Contents entry 1")
    table = d.add_table(rows=3, cols=2)
    header = table.rows[0]._tr.get_or_add_trPr()
    header.append(OxmlElement("w:tblHeader"))
    table.cell(0, 0).merge(table.cell(0, 1)).text = "Wide"
    table.cell(1, 0).merge(table.cell(2, 0)).text = "Tall"
    table.cell(1, 1).text = "b"
    table.cell(2, 1).text = "c"
    d.styles["Normal"].font.size = Pt(11)
    out = io.BytesIO()
    d.save(out)
    return out.getvalue()


def test_docx_as_word_writes_it() -> None:
    doc = parse_file(word_document(), "docx", ImportLimits())
    assert doc.title == "From Word"
    blocks = doc.blocks
    assert blocks[0] == tree.Heading(2, [run("Part")])
    assert blocks[1] == p(
        run("plain "),
        run("bold", tree.Mark(tree.BOLD)),
        run(" "),
        run("italic", tree.Mark(tree.ITALIC)),
        run(" "),
        run("under", tree.Mark(tree.UNDERLINE)),
        run(" "),
        run("gone", tree.Mark(tree.STRIKE)),
        run(" H"),
        run("2", tree.Mark(tree.SUBSCRIPT)),
        run("O x"),
        run("2", tree.Mark(tree.SUPERSCRIPT)),
        run(" "),
        run("green", tree.Mark(tree.HIGHLIGHT, color="#00ff00")),
        run(" "),
        run("red", tree.Mark(tree.TEXT_COLOR, color="#c00000")),
        run(" "),
        run("field link", tree.Mark(tree.LINK, "https://example.com/f")),
    )
    # A page break is layout: gone; a line break stays.
    assert blocks[2] == p(run("before pageafter page"), tree.HardBreak(), run("next line"))
    assert blocks[3] == tree.Blockquote([p(run("A quotation."))])
    assert isinstance(blocks[4], tree.OrderedList)
    assert [i.children for i in blocks[4].items] == [[p(run("first"))], [p(run("second"))]]
    assert blocks[5] == tree.BulletList([tree.ListItem([p(run("dot"))])])
    assert blocks[6] == p(run("centred"), align="center")
    assert blocks[7] == p(run("שלום"), dir="rtl")
    assert blocks[8] == tree.Paragraph()  # the TOC field's cached entries are not content
    assert blocks[9] == tree.Table(
        [
            tree.TableRow([tree.TableCell([p(run("Wide"))], header=True, colspan=2)]),
            tree.TableRow(
                [tree.TableCell([p(run("Tall"))], rowspan=2), tree.TableCell([p(run("b"))])]
            ),
            tree.TableRow([tree.TableCell([p(run("c"))])]),
        ]
    )


def test_docx_code_styles_and_glyph_tasks() -> None:
    d = docx.Document()
    code = d.styles.add_style("Source Code", 1)
    assert code is not None
    d.add_paragraph("def f():", style="Source Code")
    d.add_paragraph("    return 1", style="Source Code")
    d.add_paragraph("\u2611 done", style="List Bullet")
    d.add_paragraph("\u2610 todo", style="List Bullet")
    out = io.BytesIO()
    d.save(out)
    blocks = parse_file(out.getvalue(), "docx", ImportLimits()).blocks
    assert blocks == [
        tree.CodeBlock("def f():\n    return 1"),
        tree.TaskList(
            [tree.TaskItem(True, [p(run("done"))]), tree.TaskItem(False, [p(run("todo"))])]
        ),
    ]


def _rezip(data: bytes, extra: dict[str, bytes], content_types: bytes | None = None) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for item in source.infolist():
            body = source.read(item)
            if item.filename == "[Content_Types].xml" and content_types is not None:
                body = content_types
            z.writestr(item, body)
        for name, body in extra.items():
            z.writestr(name, body)
    return out.getvalue()


def test_docx_refusals() -> None:
    good = word_document()
    limits = ImportLimits(max_unpacked_bytes=8 * 1024 * 1024)
    with pytest.raises(Unsupported, match=r"encrypted or legacy \.doc"):
        parse_file(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 512, "docx", limits)
    with pytest.raises(TooBig) as bomb:
        parse_file(_rezip(good, {"word/media/big.bin": b"\0" * (9 * 1024 * 1024)}), "docx", limits)
    assert bomb.value.code == "zip_bomb"
    types = zipfile.ZipFile(io.BytesIO(good)).read("[Content_Types].xml")
    docm = types.replace(
        b"wordprocessingml.document.main+xml", b"ms-word.document.macroEnabled.main+xml"
    )
    with pytest.raises(Unsupported, match="macro"):
        parse_file(_rezip(good, {}, docm), "docx", limits)
    with pytest.raises(Malformed):
        parse_file(b"PK\x03\x04garbage", "docx", limits)
    broken = _rezip(good, {})
    broken = broken.replace(b"word/document.xml", b"word/documenX.xml")
    with pytest.raises(Malformed):
        parse_file(broken, "docx", limits)
    with pytest.raises(TooBig):
        parse_file(good, "docx", ImportLimits(max_bytes=1000))


def test_docx_entities_are_not_expanded() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE w [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">]>'
    )
    good = word_document()
    xml = zipfile.ZipFile(io.BytesIO(good)).read("word/document.xml")
    body = xml.split(b"?>", 1)[1].replace(b"Part", b"&c;")
    source = zipfile.ZipFile(io.BytesIO(good))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for item in source.infolist():
            z.writestr(
                item, bomb + body if item.filename == "word/document.xml" else source.read(item)
            )
    try:
        doc = parse_file(out.getvalue(), "docx", ImportLimits())
    except Malformed:
        return  # refused outright is fine too
    assert "aaaaaaaaaa" not in str(doc.blocks)


# -- HTML and Markdown -------------------------------------------------------------------


def test_html_from_the_web() -> None:
    doc = parse_html(
        "<html><head><title>A  page</title><style>p{}</style><script>alert(1)</script></head>"
        "<body><nav>menu</nav><h1>Big</h1><p>Hello <a href='javascript:alert(1)'>bad</a> "
        "<a href='HTTPS://ok.example'>ok</a> <span style='color: rgb(255, 0, 0)'>red</span>"
        "<p>unclosed <b>bold</b><li>stray"
        "<ul><li>one<li>two</ul><ul class='contains-task-list'>"
        "<li class='task-list-item'><input type='checkbox' checked disabled> done</li></ul>"
        "<img src='javascript:x' alt='evil image'><img src='a.png' width='50' alt='ok'>"
        "<table><tr><th>h<th>i<tr><td colspan=2>c</table>"
        "</body></html>"
    )
    assert doc.title == "A page"
    assert doc.blocks[0] == p(run("menu"))
    assert doc.blocks[1] == tree.Heading(1, [run("Big")])
    assert doc.blocks[2] == p(
        run("Hello bad "),
        run("ok", tree.Mark(tree.LINK, "HTTPS://ok.example")),
        run(" "),
        run("red", tree.Mark(tree.TEXT_COLOR, color="#ff0000")),
    )
    assert doc.blocks[3] == p(run("unclosed "), run("bold", tree.Mark(tree.BOLD)))
    assert (
        tree.BulletList([tree.ListItem([p(run("one"))]), tree.ListItem([p(run("two"))])])
        in doc.blocks
    )
    assert tree.TaskList([tree.TaskItem(True, [p(run("done"))])]) in doc.blocks
    assert tree.Image("a.png", "ok", "", 50) in doc.blocks
    assert p(run("evil image")) in doc.blocks
    assert doc.blocks[-1] == tree.Table(
        [
            tree.TableRow(
                [tree.TableCell([p(run("h"))], True), tree.TableCell([p(run("i"))], True)]
            ),
            tree.TableRow([tree.TableCell([p(run("c"))], colspan=2)]),
        ]
    )


def test_deep_nesting_is_flattened_not_recursed() -> None:
    html = "<blockquote>" * 5000 + "deep" + "</blockquote>" * 5000
    blocks = parse_html(html).blocks
    depth = 0
    while blocks and isinstance(blocks[0], tree.Blockquote):
        depth += 1
        blocks = blocks[0].children
    assert depth <= MAX_DEPTH and blocks == [p(run("deep"))]
    # markdown-it stops nesting at 100 (its parser recurses): no crash, the text kept
    # up to that depth.
    assert "deep" in str(parse_markdown(">" * 60 + " deep").blocks)
    assert parse_markdown(">" * 5000 + " deep").blocks


def test_markdown_gfm_and_raw_html() -> None:
    doc = parse_markdown(
        "Setext\n======\n\n"
        "a <u>u</u> <sub>2</sub> <mark>m</mark> ~~s~~ [x](javascript:alert(1)) "
        "![alt \\[1\\]](i.png)\n\n"
        "- [ ] open\n- [X] closed\n\n"
        "| a | b |\n|---|--:|\n| 1 | 2 |\n\n"
        "<div>raw <em>html</em></div>\n\n"
        "    indented code\n"
    )
    assert doc.blocks[0] == tree.Heading(1, [run("Setext")])
    assert doc.blocks[1] == p(
        run("a "),
        run("u", tree.Mark(tree.UNDERLINE)),
        run(" "),
        run("2", tree.Mark(tree.SUBSCRIPT)),
        run(" "),
        run("m", tree.Mark(tree.HIGHLIGHT)),
        run(" "),
        run("s", tree.Mark(tree.STRIKE)),
        run(" [x](javascript:alert(1))"),
    )
    assert doc.blocks[2] == tree.Image("i.png", "alt [1]")
    assert doc.blocks[3] == tree.TaskList(
        [tree.TaskItem(False, [p(run("open"))]), tree.TaskItem(True, [p(run("closed"))])]
    )
    assert isinstance(doc.blocks[4], tree.Table) and doc.blocks[4].rows[0].cells[0].header
    assert doc.blocks[5] == p(run("raw "), run("html", tree.Mark(tree.ITALIC)))
    assert doc.blocks[6] == tree.CodeBlock("indented code")
    assert parse_markdown("---\n").blocks == [tree.HorizontalRule()]


def test_markdown_keeps_the_spaces_a_writer_typed() -> None:
    """CommonMark strips whitespace only at a line's edges (a soft break reads as one
    space); inner runs of spaces, and edge spaces written as entities, are text."""
    doc = parse_markdown(
        "two  spaces, *a  b*\n\n&#32;edge&#32;\n\n  leading and trailing \nnext\n\n"
        "tab&#9;and&#10;newline entity"
    )
    assert doc.blocks == [
        p(run("two  spaces, "), run("a  b", tree.Mark(tree.ITALIC))),
        p(run(" edge ")),
        p(run("leading and trailing next")),
        p(run("tab\tand newline entity")),
    ]
    # A picture splits its line: the spaces at the split end or start a line.
    assert parse_markdown("See ![icon](i.png) here").blocks == [
        p(run("See")),
        tree.Image("i.png", "icon"),
        p(run("here")),
    ]


# -- text, encodings, formats ----------------------------------------------------------------


def test_plain_text() -> None:
    assert parse_text("one\r\ntwo\n\n\nthree\x0b\x00").blocks == [
        p(run("one"), tree.HardBreak(), run("two")),
        p(run("three")),
    ]
    assert parse_text("a\nb").blocks == [p(run("a")), p(run("b"))]
    assert parse_text("\n\n").blocks == []


def test_encodings() -> None:
    assert decode_text("\ufeffé".encode()) == "é"
    assert decode_text("é".encode("utf-16")) == "é"
    with pytest.raises(Malformed) as bad:
        decode_text(b"caf\xe9")
    assert bad.value.code == "invalid_encoding"


def test_detect_format() -> None:
    docx_type = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    assert detect_format("MD") == "md"
    assert detect_format(None, docx_type) == "docx"
    assert detect_format(None, "text/html; charset=utf-8") == "html"
    assert detect_format(None, "application/octet-stream", "Notes.TXT") == "txt"
    assert detect_format(None, None, None, b"PK\x03\x04") == "docx"
    for args in ((None, "image/png"), (None, None, "old.doc"), ("odt",), (None,)):
        with pytest.raises(Unsupported):
            detect_format(*args)  # type: ignore[arg-type]
