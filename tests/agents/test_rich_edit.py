"""Rewriting a selection in place inside TipTap rich text (agents/rich_edit.py)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from pycrdt import Doc, XmlElement, XmlFragment, XmlText

from draftroom.agents.rich_edit import replace_selection
from draftroom.document.text import read_text


def tiptap(*blocks: Any) -> tuple[Doc, XmlFragment]:
    doc: Doc = Doc()
    fragment = doc.get("default", type=XmlFragment)
    for block in blocks:
        fragment.children.append(block)
    return doc, fragment


def para(*children: Any) -> XmlElement:
    return XmlElement("paragraph", {}, list(children))


def rewrite(doc: Doc, fragment: XmlFragment, target: str, new: str, nth: int = 0) -> bool:
    document = read_text(doc)
    start = -1
    for _ in range(nth + 1):
        start = document.text.index(target, start + 1)
    with doc.transaction():
        return replace_selection(fragment, document, start, start + len(target), new)


def runs(node: Any) -> list[tuple[str, Any]]:
    return [(text, attrs) for text, attrs in node.diff()]


def test_a_word_is_replaced_in_place_keeping_its_formatting() -> None:
    doc, fragment = tiptap(
        XmlElement("heading", {"level": 1}, [XmlText("Chapter One")]),
        para(XmlText("The storm was very big and loud.")),
        para(XmlText("Ein Café für Zoë 🙂 stayed open.")),
    )
    text = fragment.children[1].children[0]
    text.format(len(b"The storm was "), len(b"The storm was very big"),
                {"bold": True})  # fmt: skip
    assert rewrite(doc, fragment, "very big", "enormous")
    assert runs(text) == [("The storm was ", None), ("enormous", {"bold": True}),
                          (" and loud.", None)]  # fmt: skip
    # Characters outside ASCII before the selection: offsets are characters, pycrdt's
    # are UTF-8 bytes.
    assert rewrite(doc, fragment, "stayed", "remained")
    assert read_text(doc).text == (
        "Chapter One\nThe storm was enormous and loud.\nEin Café für Zoë 🙂 remained open."
    )


def test_text_after_a_bold_run_does_not_turn_bold() -> None:
    doc, fragment = tiptap(para(XmlText("bold plain")))
    node = fragment.children[0].children[0]
    node.format(0, 4, {"bold": True})
    assert rewrite(doc, fragment, "plain", "simple")
    assert runs(node) == [("bold", {"bold": True}), (" simple", None)]


def test_lists_quotes_and_hard_breaks_map_to_the_right_text() -> None:
    doc, fragment = tiptap(
        para(XmlText("Intro.")),
        XmlElement("bulletList", {}, [
            XmlElement("listItem", {}, [para(XmlText("first item"))]),
            XmlElement("listItem", {}, [para(XmlText("second item"))]),
        ]),
        XmlElement("blockquote", {}, [para(XmlText("quoted line"))]),
        para(XmlText("line one"), XmlElement("hardBreak", {}, []), XmlText("line two")),
        XmlElement("horizontalRule", {}, []),
        para(XmlText("item again")),
    )  # fmt: skip
    assert rewrite(doc, fragment, "item", "entry", nth=1)  # in "second item"
    assert rewrite(doc, fragment, "quoted", "cited")
    assert rewrite(doc, fragment, "two", "2")
    assert read_text(doc).text == (
        "Intro.\nfirst item\nsecond entry\ncited line\nline one\nline 2\nitem again"
    )


def test_what_cannot_be_mapped_exactly_is_refused_untouched() -> None:
    doc, fragment = tiptap(
        para(XmlText("First paragraph.")),
        para(XmlText("before"), XmlElement("hardBreak", {}, []), XmlText("after")),
        para(XmlText("an "), XmlElement("image", {"src": "x.png", "alt": "pic"}, []),
             XmlText(" inline")),
    )  # fmt: skip
    state = doc.get_state()
    document = read_text(doc)
    text = document.text
    cases = [
        (text.index("paragraph."), text.index("before") + 3),  # across two paragraphs
        (text.index("before") + 2, text.index("after") + 2),  # across a hard break
        (text.index("inline"), text.index("inline") + 3),  # a block with an image
        (3, 3),  # empty
    ]
    for start, end in cases:
        with doc.transaction():
            assert not replace_selection(fragment, document, start, end, "X")
    assert doc.get_state() == state


WORDS = st.text(alphabet="abcdé🙂 .", min_size=1, max_size=12)


@settings(max_examples=150, deadline=None)
@given(
    paragraphs=st.lists(st.tuples(WORDS, st.booleans()), min_size=1, max_size=5),
    pick=st.integers(0, 10_000),
    span=st.tuples(st.integers(0, 12), st.integers(1, 12)),
    replacement=st.text(alphabet="xyzé🙂 ", min_size=1, max_size=8),
)
def test_any_selection_inside_a_paragraph_becomes_exactly_the_replacement(
    paragraphs: list[tuple[str, bool]], pick: int, span: tuple[int, int], replacement: str
) -> None:
    doc, fragment = tiptap(*(para(XmlText(words)) for words, _ in paragraphs))
    for (words, bold), block in zip(paragraphs, fragment.children, strict=True):
        if bold:  # formatting splits a paragraph into runs
            block.children[0].format(0, len(words[: len(words) // 2].encode()), {"bold": True})
    document = read_text(doc)
    line = document.lines[pick % len(document.lines)]
    start = min(line.start + span[0], line.end - 1)
    end = min(start + span[1], line.end)
    with doc.transaction():
        assert replace_selection(fragment, document, start, end, replacement)
    expected = document.text[:start] + replacement.strip() + document.text[end:]
    assert read_text(doc).text == expected
