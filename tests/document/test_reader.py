from __future__ import annotations

from export.builders import B, I, el, h, li, link, make_doc, ol, p, plain_doc, txt
from export.samples import rich_doc
from pycrdt import Doc, Map, Text, XmlFragment

from draftroom.document.tree import (
    Blockquote,
    BulletList,
    CodeBlock,
    HardBreak,
    Heading,
    HorizontalRule,
    Image,
    Mark,
    OrderedList,
    Paragraph,
    plain_text,
)
from draftroom.document.tree import Text as Run
from draftroom.export import read_document, read_update


def test_reads_every_node_kind() -> None:
    doc = read_document(rich_doc(), "Chapter One")
    kinds = [type(b).__name__ for b in doc.blocks]
    assert kinds[:8] == [
        "Heading",
        "Paragraph",
        "Paragraph",
        "Blockquote",
        "BulletList",
        "OrderedList",
        "Paragraph",
        "OrderedList",
    ]
    heading = doc.blocks[0]
    assert isinstance(heading, Heading) and heading.level == 1  # stored as float 1.0
    assert any(isinstance(b, CodeBlock) and b.language == "python" for b in doc.blocks)
    assert any(isinstance(b, HorizontalRule) for b in doc.blocks)
    image = next(b for b in doc.blocks if isinstance(b, Image))
    assert (image.src, image.alt, image.title) == ("https://example.com/x.png", "A picture", "Pic")
    starts = [b.start for b in doc.blocks if isinstance(b, OrderedList)]
    assert starts == [1, 5]
    nested = doc.blocks[4]
    assert isinstance(nested, BulletList)
    assert isinstance(nested.items[1].children[1], BulletList)
    assert isinstance(doc.blocks[3], Blockquote) and len(doc.blocks[3].children) == 2


def test_marks_from_diff() -> None:
    doc = read_document(
        make_doc(p("a", ("b", {**B, **I}), ("c", link("https://x.org", **B)), ("d", {"code": {}}))),
        "t",
    )
    para = doc.blocks[0]
    assert isinstance(para, Paragraph)
    assert para.children == [
        Run("a"),
        Run("b", frozenset({Mark("bold"), Mark("italic")})),
        Run("c", frozenset({Mark("bold"), Mark("link", "https://x.org")})),
        Run("d", frozenset({Mark("code")})),
    ]


def test_unknown_marks_and_nodes_degrade_to_text() -> None:
    ydoc = make_doc(
        p("x", ("commented", {"comment--AbCd1234": {"id": 3}}), ("lit", {"highlight": {}, **B})),
        el("callout", {"type": "warn"}, p("inside callout")),
        el("table", None, el("tableRow", None, el("tableCell", None, p("cell text")))),
        p("hi ", el("mention", {"id": "u"}, txt("@ann")), " there"),
        el("weirdInline", None, txt("loose text")),
    )
    doc = read_document(ydoc, "t")
    assert plain_text(doc.blocks).split("\n") == [
        "xcommentedlit",
        "inside callout",
        "cell text",
        "hi @ann there",
        "loose text",
    ]
    first = doc.blocks[0]
    assert isinstance(first, Paragraph)
    # The comment mark is dropped, so its text joins the plain run before it.
    highlight = Mark("highlight")  # no colour: the writers' default yellow
    assert first.children == [Run("xcommented"), Run("lit", frozenset({Mark("bold"), highlight}))]


def test_hard_break_and_unicode() -> None:
    doc = read_document(make_doc(p("😀 \U0001d518", el("hardBreak"), "中文")), "t")
    para = doc.blocks[0]
    assert isinstance(para, Paragraph)
    assert para.children == [Run("😀 \U0001d518"), HardBreak(), Run("中文")]


def test_empty_document() -> None:
    assert read_document(Doc(), "Empty").blocks == []
    assert read_update(b"", "Empty").blocks == []


def test_plain_ytext_fallback_one_paragraph_per_line() -> None:
    doc = read_document(plain_doc("one\ntwo 🎉\n\nfour"), "Plain")
    assert [plain_text([b]) for b in doc.blocks] == ["one", "two 🎉", "", "four"]


def test_read_update_round_trips_encoded_state() -> None:
    ydoc = make_doc(h(2, "Title"), ol(3, li("x")))
    doc = read_update(ydoc.get_update(), "From state")
    assert doc.title == "From state"
    assert isinstance(doc.blocks[0], Heading) and doc.blocks[0].level == 2
    assert isinstance(doc.blocks[1], OrderedList) and doc.blocks[1].start == 3


def test_root_written_as_another_type_reads_as_empty() -> None:
    # "default" written as a Y.Text and "text" as a Y.Map by some other client.
    other: Doc = Doc()
    other.get("default", type=Text).insert(0, "not xml")
    other.get("text", type=Map)["k"] = "v"
    doc = read_update(other.get_update(), "Odd")
    assert doc.blocks == []


def test_fragment_named_prosemirror() -> None:
    ydoc = make_doc(p("plain y-prosemirror"), name="prosemirror")
    assert plain_text(read_document(ydoc, "t").blocks) == "plain y-prosemirror"


def test_fragment_takes_precedence_over_plain_text() -> None:
    ydoc = make_doc(p("rich"))
    ydoc.get("text", type=Text).insert(0, "plain")
    assert plain_text(read_document(ydoc, "t").blocks) == "rich"
    assert isinstance(ydoc.get("default", type=XmlFragment), XmlFragment)
