"""The builder writes what the reader reads: tree -> Yjs -> tree is the identity."""

from __future__ import annotations

from hypothesis import given
from pycrdt import Doc, Text, XmlFragment

from draftroom.document.build import append_content, build_update, replace_content
from draftroom.document.prosemirror import to_prosemirror
from draftroom.document.reader import read_document, read_update
from draftroom.document.tree import (
    BOLD,
    LINK,
    Block,
    BulletList,
    Document,
    HardBreak,
    Heading,
    ListItem,
    Mark,
    Paragraph,
)
from draftroom.document.tree import (
    Text as Run,
)

from .trees import documents


@given(documents)
def test_round_trip_is_identity(blocks: list[Block]) -> None:
    assert read_update(build_update(Document("t", blocks)), "t").blocks == blocks


def test_tiptap_shape() -> None:
    doc: Doc = Doc()
    replace_content(
        doc,
        [
            Heading(2, [Run("Hi")]),
            Paragraph(
                [
                    Run("a", frozenset({Mark(BOLD)})),
                    HardBreak(),
                    Run("b", frozenset({Mark(LINK, "https://x")})),
                ]
            ),
        ],
    )
    assert to_prosemirror(doc.get("default", type=XmlFragment)) == {
        "type": "doc",
        "content": [
            {"type": "heading", "attrs": {"level": 2}, "content": [{"type": "text", "text": "Hi"}]},
            {
                "type": "paragraph",
                "content": [
                    {"type": "text", "text": "a", "marks": [{"type": "bold", "attrs": {}}]},
                    {"type": "hardBreak"},
                    {
                        "type": "text",
                        "text": "b",
                        "marks": [
                            {
                                "type": "link",
                                "attrs": {
                                    "href": "https://x",
                                    "target": "_blank",
                                    "rel": "noopener noreferrer nofollow",
                                    "class": None,
                                },
                            }
                        ],
                    },
                ],
            },
        ],
    }


def test_schema_holes_are_filled() -> None:
    doc: Doc = Doc()
    replace_content(doc, [BulletList([ListItem([])]), BulletList([])])
    assert read_document(doc, "").blocks == [BulletList([ListItem([Paragraph()])])]


def test_replace_then_append_in_a_rich_document() -> None:
    doc: Doc = Doc()
    replace_content(doc, [Paragraph([Run("old")])])
    replace_content(doc, [Paragraph([Run("new")])])
    append_content(doc, [Paragraph([Run("more")])])
    assert read_document(doc, "").blocks == [Paragraph([Run("new")]), Paragraph([Run("more")])]


def test_plain_text_documents_stay_plain() -> None:
    doc: Doc = Doc()
    doc.get("text", type=Text).insert(0, "typed")
    append_content(doc, [Heading(1, [Run("Añadido")]), Paragraph([Run("x")])])
    assert str(doc.get("text", type=Text)) == "typed\nAñadido\nx"
    replace_content(doc, [Paragraph([Run("only")])])
    assert str(doc.get("text", type=Text)) == "only"
