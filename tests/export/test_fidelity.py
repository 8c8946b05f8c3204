"""The "everything" document in every format, opened by real consumers.

One document (``everything.py``) holds every TipTap node and mark plus the inputs that
broke exports. Each format is opened by what a writer or editor would open it with:
DOCX by pandoc (JSON AST) and LibreOffice, the PDF by poppler and qpdf (with every
word's position on its page), HTML by pandoc and an HTML parser, Markdown by a
CommonMark + GFM parser and pandoc, the Scrivener RTF by LibreOffice; every XML part
of the DOCX and the ``.scrivx`` by ``xmllint``. LibreOffice starts once per format.
"""

from __future__ import annotations

import json
import zipfile
from collections import Counter
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest

from draftroom.document.tree import Document
from draftroom.export import ExportOptions, export_documents

from .conftest import NOW, run, soffice_convert
from .everything import LONG_URL, MUST_KEEP, everything
from .markdown_oracle import parse_markdown
from .test_defects import words_with_boxes
from .test_docx import walk
from .test_markdown import canonical
from .test_scrivener import check_project

OPTIONS = ExportOptions(author="Ana María Núñez", toc=True, now=NOW)
MANUSCRIPT = ExportOptions(author="Ana María Núñez", manuscript=True, now=NOW)


@dataclass
class Files:
    doc: Document
    root: Path
    docx: Path
    manuscript_docx: Path
    pdf: Path
    html: Path
    md: Path
    scriv: Path
    rtf: list[Path]
    docx_pdf: Path
    rtf_txt: list[Path]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Files:
    root = tmp_path_factory.mktemp("everything")
    doc = everything()
    paths = {}
    for name, fmt, options in (
        ("docx", "docx", OPTIONS),
        ("manuscript_docx", "docx", MANUSCRIPT),
        ("pdf", "pdf", OPTIONS),
        ("html", "html", OPTIONS),
        ("md", "md", OPTIONS),
        ("scriv", "scriv", OPTIONS),
    ):
        paths[name] = root / f"{name}.{fmt}"
        paths[name].write_bytes(export_documents([doc], fmt, options))
    rtf = []
    with zipfile.ZipFile(paths["scriv"]) as z:
        for n, entry in enumerate(e for e in z.namelist() if e.endswith("content.rtf")):
            rtf.append(root / f"content{n}.rtf")
            rtf[-1].write_bytes(z.read(entry))
    soffice_convert([paths["docx"]], "pdf", root / "lo", "MS Word 2007 XML")
    soffice_convert(rtf, "txt:Text (encoded):UTF8", root / "lo", "Rich Text Format")
    return Files(
        doc=doc,
        root=root,
        rtf=rtf,
        docx_pdf=root / "lo" / "docx.pdf",
        rtf_txt=[root / "lo" / (p.stem + ".txt") for p in rtf],
        **paths,
    )


def pandoc_ast(path: Path, fmt: str) -> list[tuple[str, Any, tuple[str, ...]]]:
    return list(walk(json.loads(run("pandoc", "-f", fmt, "-t", "json", str(path)))["blocks"]))


def ast_text(nodes: list[tuple[str, Any, tuple[str, ...]]]) -> str:
    """The text pandoc read: words, inline code and code blocks."""
    parts = []
    for kind, node, _ in nodes:
        if kind == "Str":
            parts.append(node["c"])
        elif kind in ("Code", "CodeBlock"):
            parts.append(node["c"][1])
    return " ".join(parts)


def flat(text: str) -> str:
    return " ".join(text.split())


def keeps_everything(text: str, but: tuple[str, ...] = ()) -> None:
    text = flat(text)
    missing = [w for w in MUST_KEEP if flat(w) not in text and w not in but]
    assert not missing, missing


def xmllint(paths: list[Path]) -> None:
    run("xmllint", "--noout", *map(str, paths))


# --- DOCX --------------------------------------------------------------------------


def test_docx_every_xml_part_is_well_formed(files: Files) -> None:
    for name, docx in (("docx", files.docx), ("manuscript", files.manuscript_docx)):
        out = files.root / f"{name}-parts"
        with zipfile.ZipFile(docx) as z:
            z.extractall(out)
        parts = [p for p in out.rglob("*") if p.suffix in (".xml", ".rels")]
        assert len(parts) > 8
        xmllint(parts)


def test_docx_structure_in_pandoc(files: Files) -> None:
    nodes = pandoc_ast(files.docx, "docx")
    kinds = Counter(t for t, _, _ in nodes)
    headers = sorted({n["c"][0] for t, n, _ in nodes if t == "Header"})
    assert headers == [1, 2, 3, 4, 5, 6]
    for kind in ("Table", "Subscript", "Superscript", "Underline", "Strikeout", "Code"):
        assert kinds[kind] >= 1, kind
    assert kinds["Image"] == 3 and kinds["BlockQuote"] >= 1 and kinds["CodeBlock"] == 1
    alts = [
        flat(" ".join(x["c"] for x in n["c"][1] if x["t"] == "Str"))
        for t, n, _ in nodes
        if t == "Image"
    ]
    assert alts[0] == "A small grey box"
    links = [n["c"][2][0] for t, n, _ in nodes if t == "Link"]
    assert "HTTPS://EXAMPLE.ORG/UPPER" in links and LONG_URL in links
    assert not any("javascript" in link for link in links)
    boxes = [n["c"] for t, n, inside in nodes if t == "Str" and n["c"] in "☐☒"]
    assert boxes == ["☒", "☐"]  # pandoc reads these back as a task list
    table = next(n for t, n, _ in nodes if t == "Table")
    assert "Name" in json.dumps(table["c"][3], ensure_ascii=False)  # the header row
    keeps_everything(ast_text(nodes))


def test_docx_opens_in_libreoffice(files: Files) -> None:
    assert files.docx_pdf.exists(), "LibreOffice could not load the DOCX"
    # LibreOffice draws the Hangul that follows Chinese in one run with the CJK
    # fallback font, but gives pdftotext no text for it; pandoc above reads it.
    text = run("pdftotext", "-enc", "UTF-8", str(files.docx_pdf), "-")
    keeps_everything(text, but=("한국어",))


def test_docx_toc_field_and_manuscript_header(files: Files) -> None:
    with zipfile.ZipFile(files.docx) as z:
        body = z.read("word/document.xml").decode()
        settings = z.read("word/settings.xml").decode()
    assert 'TOC \\o "1-6" \\h \\z \\u' in body and 'w:updateFields w:val="true"' in settings
    with zipfile.ZipFile(files.manuscript_docx) as z:
        headers = [z.read(n).decode() for n in z.namelist() if n.startswith("word/header")]
    assert any("Núñez / The Everything Document" in h and " PAGE " in h for h in headers)


def test_docx_pictures_fit_the_text_width_in_manuscript_mode(files: Files) -> None:
    # A text-wide picture must not be pushed past the margin by the first-line indent.
    w = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
    with zipfile.ZipFile(files.manuscript_docx) as z:
        root = ET.fromstring(z.read("word/document.xml"))
    pictures = [p for p in root.iter(w + "p") if p.find(f".//{w}drawing") is not None]
    assert len(pictures) == 3
    for para in pictures:
        ind = para.find(f"{w}pPr/{w}ind")
        assert ind is not None and ind.get(w + "firstLine") == "0"


# --- PDF ---------------------------------------------------------------------------


def test_pdf_checks_and_text(files: Files) -> None:
    assert "No syntax or stream encoding errors" in run("qpdf", "--check", str(files.pdf))
    rows = [line.split() for line in run("pdffonts", str(files.pdf)).splitlines()[2:]]
    assert rows and all(row[-5] == "yes" for row in rows if row), rows
    keeps_everything(run("pdftotext", "-enc", "UTF-8", str(files.pdf), "-"))


def test_pdf_nothing_runs_off_the_page(files: Files) -> None:
    boxes = words_with_boxes(files.pdf)
    assert len(boxes) > 200
    off = [w for w in boxes if w[1] < 0 or w[2] < 0 or w[3] > w[0] + 0.5]
    assert not off, off[:3]


# --- HTML --------------------------------------------------------------------------


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, dict(attrs)))


def test_html_parsed_back(files: Files) -> None:
    parser = Tags()
    parser.feed(files.html.read_text("utf-8"))
    tags = parser.found
    names = Counter(t for t, _ in tags)
    for tag in ("table", "thead", "th", "td", "sub", "sup", "mark", "u", "s", "code", "pre"):
        assert names[tag] >= 1, tag
    assert any(a.get("colspan") == "2" for t, a in tags if t == "td")
    assert any(a.get("rowspan") == "2" for t, a in tags if t == "td")
    boxes = [a for t, a in tags if t == "input"]
    assert [("checked" in a, a.get("type")) for a in boxes] == [
        (True, "checkbox"),
        (False, "checkbox"),
    ]
    assert any(a.get("style") == "color: #ff0000" for t, a in tags if t == "span")
    assert sum(1 for t, a in tags if t == "p" and a.get("dir") == "rtl") == 2
    assert any(a.get("style") == "text-align: center" for t, a in tags if t == "p")
    # Every heading at its own level (+ the book and document titles, "Contents").
    assert [names[f"h{n}"] for n in range(1, 7)] == [3, 2, 1, 1, 1, 1]
    assert any(a.get("style") == "width: 120px" for t, a in tags if t == "img")
    nodes = pandoc_ast(files.html, "html")
    kinds = Counter(t for t, _, _ in nodes)
    for kind in ("Table", "Subscript", "Superscript", "BlockQuote", "CodeBlock", "Image"):
        assert kinds[kind] >= 1, kind
    keeps_everything(ast_text(nodes))


# --- Markdown ----------------------------------------------------------------------


def test_markdown_parsed_back_to_the_same_tree(files: Files) -> None:
    text = files.md.read_text("utf-8")
    back = parse_markdown(text).blocks
    assert back[1:] == canonical(files.doc.blocks)  # [0] is the title heading
    nodes = pandoc_ast(files.md, "gfm")
    kinds = Counter(t for t, _, _ in nodes)
    assert kinds["Table"] == 1 and kinds["Strikeout"] == 1
    assert [n["c"] for t, n, _ in nodes if t == "Str" and n["c"] in "☐☒"] == ["☒", "☐"]


# --- Scrivener ---------------------------------------------------------------------


def test_scrivener_structure_and_xml(files: Files) -> None:
    with zipfile.ZipFile(files.scriv) as z:
        project = check_project(z)
        scrivx = next(n for n in z.namelist() if n.endswith(".scrivx"))
        (files.root / "project.scrivx").write_bytes(z.read(scrivx))
        assert all(len(part.encode()) <= 255 for n in z.namelist() for part in n.split("/"))
    xmllint([files.root / "project.scrivx"])
    titles = [t.text or "" for t in project.iter("Title")]
    assert any(t.startswith("The Everything Document") and len(t) > 1000 for t in titles)


def test_scrivener_rtf_opens_in_libreoffice(files: Files) -> None:
    assert files.rtf_txt and all(p.exists() for p in files.rtf_txt)
    text = " ".join(p.read_text("utf-8-sig") for p in files.rtf_txt)
    keeps_everything(text)
    assert "☑" in text and "☐" in text and "•" in text
    rtf = files.rtf[0].read_text("ascii")
    for control in ("\\listtable", "\\trowd", "\\clvmgf", "\\sub", "\\super", "\\rtlpar", "\\pict"):
        assert control in rtf, control
