"""Sample documents shared by the export tests."""

from __future__ import annotations

import re

from pycrdt import Doc

from draftroom.document.tree import BOLD, ITALIC, Document, Text, iter_inlines, plain_text

from .builders import (
    B,
    C,
    I,
    S,
    U,
    el,
    h,
    li,
    link,
    make_doc,
    ol,
    p,
    plain_doc,
    txt,
    ul,
)

WORD = re.compile(r"\w+")


def rich_doc(name: str = "default") -> Doc:
    return make_doc(
        h(1, "Chapter One: Départ 🚀"),
        p(
            "It was a ",
            ("dark", B),
            " and ",
            ("stormy", I),
            " night in ",
            ("Zürich", {**B, **I}),
            ". ",
            ("Underlined", U),
            " and ",
            ("struck", S),
            " and ",
            ("code()", C),
            " and a ",
            ("link here", link("https://example.com/a?b=1&c=2")),
            ". Two ",
            ("bold words", B),
            " then ",
            ("three italic words", I),
            ".",
        ),
        p(
            "Commented ",
            ("words stay", {"comment--AbCd1234": {"id": "c1"}}),
            " here; ",
            ("highlighted", {"highlight": {"color": "#ff0"}}),
            " too.",
            el("hardBreak"),
            "After a break: 中文 Ελληνικά 😀👍🏽 \U0001d518\U0001d52b\U0001d526 café.",
        ),
        el("blockquote", None, p("A quoted ", ("line", I), "."), p("Second quoted paragraph.")),
        ul(li("Apples"), li("Pears", ul(li("Conference"), li("Williams"))), li("Plums")),
        ol(1, li("First"), li("Second")),
        p("Between lists."),
        ol(5, li("Fifth"), li("Sixth")),
        h(2, "A Scene"),
        el("codeBlock", {"language": "python"}, txt("print('hi')\nx = {1: 2}")),
        el("horizontalRule"),
        p("Stars *x* and _u_ and \\back\\slash {braces} <tags> & amp; # hash 1. ~~no~~."),
        el("image", {"src": "https://example.com/x.png", "alt": "A picture", "title": "Pic"}),
        el("callout", {"kind": "note"}, p("Inside an unknown block.")),
        p("An ", el("mention", {"id": "u1"}, txt("@someone")), " inline unknown."),
        h(3, "Deep heading"),
        p("Last paragraph."),
        name=name,
    )


def second_doc() -> Doc:
    return plain_doc("Second chapter, first line.\nAnd a second line with ümlauts 🎉.")


def compiled_docs() -> list[Document]:
    """What a manuscript export gets: rich, plain-text and empty documents."""
    from draftroom.export import read_document

    return [
        read_document(rich_doc(), "Chapter One"),
        read_document(second_doc(), "Plain Y.Text"),
        read_document(Doc(), "Empty"),
    ]


def words(text: str) -> list[str]:
    return WORD.findall(text)


def source_words(docs: list[Document]) -> list[str]:
    return [w for d in docs for w in words(d.title + "\n" + plain_text(d.blocks))]


def marked_word_count(docs: list[Document], kind: str) -> int:
    return sum(
        len(n.text.split())
        for d in docs
        for n in iter_inlines(d.blocks)
        if isinstance(n, Text) and n.has(kind)
    )


def is_subsequence(needle: list[str], haystack: list[str]) -> bool:
    it = iter(haystack)
    return all(any(w == x for x in it) for w in needle)


__all__ = ["BOLD", "ITALIC"]
