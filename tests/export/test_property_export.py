"""Any document the editor's schema allows, with arbitrary Unicode, exports to every
format without an exception, and to well-formed XML where the format is XML.

Documents are built the way TipTap writes them (an XmlFragment), so they go through
the reader and its cleaning exactly as stored documents do. Attribute values are
hostile too: junk alignments, colours, spans and image widths. Deterministic under the
"ci" profile (``tests/conftest.py``); ``scripts/fuzz`` searches longer.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from typing import Any
from xml.etree import ElementTree as ET

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from draftroom.document.reader import read_document
from draftroom.document.tree import Document
from draftroom.export import ExportOptions, export_documents, export_zip

from .builders import El, Txt, make_doc
from .everything import png

# Any code point the schema can store: pycrdt (UTF-8) cannot hold lone surrogates.
TEXT = st.text(st.characters(codec="utf-8"), max_size=24)
WORDS = st.one_of(TEXT, st.sampled_from(["word", "שלום", "中文", "😀👍🏽", "\x0b\x0c\x1b\x07", ""]))
COLOR = st.sampled_from([None, "#f00", "#00FF00", "rgb(1, 2, 300)", "red", "url(x)", 7])
HREF = st.one_of(
    st.sampled_from(["https://x.org/a b", "HTTPS://X.ORG", "javascript:x()", "#top", "\\\\h\\s"]),
    TEXT,
)
SIMPLE_MARKS = ["bold", "italic", "underline", "strike", "code", "subscript", "superscript"]


@st.composite
def marks(draw: st.DrawFn) -> dict[str, Any] | None:
    attrs: dict[str, Any] = {name: {} for name in draw(st.sets(st.sampled_from(SIMPLE_MARKS)))}
    if draw(st.booleans()):
        attrs["highlight"] = {"color": draw(COLOR)}
    if draw(st.booleans()):
        attrs["textStyle"] = {"color": draw(COLOR)}
    if draw(st.booleans()):
        attrs["link"] = {"href": draw(HREF)}
    if draw(st.booleans()):
        attrs["comment--AbCd1234"] = {"id": 1}
    return attrs or None


def text_node() -> st.SearchStrategy[Txt]:
    run = st.tuples(WORDS.filter(bool), marks())
    return st.lists(run, min_size=1, max_size=4).map(lambda runs: Txt(list(runs)))


def inline_children() -> st.SearchStrategy[list[El | Txt]]:
    return st.lists(st.one_of(text_node(), st.just(El("hardBreak"))), max_size=3)


ALIGN = st.sampled_from([None, "left", "center", "right", "justify", "middle"])
DIRECTION = st.sampled_from([None, "ltr", "rtl", "auto", 3])


def attrs(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


LEAVES = st.one_of(
    st.builds(
        lambda kids, a, d: El("paragraph", attrs(textAlign=a, dir=d), kids),
        inline_children(),
        ALIGN,
        DIRECTION,
    ),
    st.builds(
        lambda kids, level, a: El("heading", attrs(level=level, textAlign=a), kids),
        inline_children(),
        st.sampled_from([1, 2.0, 3, 4, 5, 6, 0, 9, "x"]),
        ALIGN,
    ),
    st.builds(
        lambda text, lang: El("codeBlock", attrs(language=lang), [Txt([(text, None)])]),
        WORDS.filter(bool),
        st.one_of(st.none(), TEXT),
    ),
    st.just(El("horizontalRule")),
    st.builds(
        lambda src, alt, title, width: El(
            "image", attrs(src=src, alt=alt, title=title, width=width)
        ),
        st.sampled_from(
            [png(3, 2), png(900, 30), "https://x.org/i.png", "data:image/png;base64,!!", ""]
        ),
        TEXT,
        TEXT,
        st.sampled_from([None, 50, "120px", -3, 10**9, "wide"]),
    ),
)


def containers(children: st.SearchStrategy[El]) -> st.SearchStrategy[El]:
    blocks = st.lists(children, min_size=1, max_size=3)
    item = blocks.map(lambda kids: El("listItem", {}, list(kids)))
    task = st.builds(
        lambda checked, kids: El("taskItem", {"checked": checked}, list(kids)),
        st.sampled_from([True, False, "true", None]),
        blocks,
    )
    cell = st.builds(
        lambda header, colspan, rowspan, kids: El(
            "tableHeader" if header else "tableCell",
            attrs(colspan=colspan, rowspan=rowspan),
            list(kids),
        ),
        st.booleans(),
        st.sampled_from([None, 1, 2, 3, 0, 10**6]),
        st.sampled_from([None, 1, 2, 4]),
        blocks,
    )
    row = st.lists(cell, min_size=1, max_size=3).map(lambda cells: El("tableRow", {}, list(cells)))
    return st.one_of(
        blocks.map(lambda kids: El("blockquote", {}, list(kids))),
        st.lists(item, min_size=1, max_size=3).map(lambda items: El("bulletList", {}, list(items))),
        st.builds(
            lambda start, items: El("orderedList", {"start": start}, list(items)),
            st.sampled_from([1, 0, 7, -2]),
            st.lists(item, min_size=1, max_size=3),
        ),
        st.lists(task, min_size=1, max_size=3).map(lambda items: El("taskList", {}, list(items))),
        st.lists(row, min_size=1, max_size=3).map(lambda rows: El("table", {}, list(rows))),
    )


BLOCKS = st.recursive(LEAVES, containers, max_leaves=12)


@st.composite
def documents(draw: st.DrawFn) -> Document:
    blocks = draw(st.lists(BLOCKS, max_size=5))
    title = draw(st.one_of(TEXT, st.text(max_size=400)))
    return read_document(make_doc(*blocks), title)


# Digests of XML parts already parsed. Every DOCX carries the same 350 KB styles.xml and
# 440 KB stylesWithEffects.xml; parsing them again for each example was most of this
# module's run time and can find nothing new.
_WELL_FORMED: set[bytes] = set()


def assert_well_formed_zip(data: bytes, suffixes: tuple[str, ...]) -> None:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert z.testzip() is None
        for name in z.namelist():
            assert all(len(part.encode()) <= 255 for part in name.split("/")), name
            if name.endswith(suffixes):
                part = z.read(name)
                digest = hashlib.sha256(part).digest()
                if digest not in _WELL_FORMED:
                    ET.fromstring(part)  # raises on anything not well-formed
                    _WELL_FORMED.add(digest)


@given(documents(), TEXT)
@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
def test_any_document_exports_to_every_format(doc: Document, author: str) -> None:
    options = ExportOptions(author=author, toc=True, manuscript=len(author) % 2 == 1)
    for fmt in ("md", "html"):
        export_documents([doc], fmt, options).decode("utf-8")
    assert_well_formed_zip(export_documents([doc], "docx", options), (".xml", ".rels"))
    scenes = ExportOptions(author=author, project_title=author, split_scenes=True)
    assert_well_formed_zip(export_documents([doc], "scriv", scenes), (".scrivx",))
    assert_well_formed_zip(b"".join(export_zip([doc, doc], "md")), ())


@given(documents())
@settings(
    max_examples=max(5, settings().max_examples // 5),  # WeasyPrint takes ~0.3 s each
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
def test_any_document_exports_to_pdf(doc: Document) -> None:
    assert export_documents([doc], "pdf", ExportOptions(toc=True)).startswith(b"%PDF-")
