"""Hypothesis strategies for canonical document trees (what the reader returns).

Canonical: runs merged, no empty runs, no newline inside a run (that is a hard
break), the code mark only with a link, list items starting with a paragraph,
no empty list or quote. Such a tree survives tree -> Yjs -> tree unchanged.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from draftroom.document.tree import (
    BOLD,
    CODE,
    HIGHLIGHT,
    ITALIC,
    LINK,
    STRIKE,
    SUBSCRIPT,
    SUPERSCRIPT,
    TEXT_COLOR,
    UNDERLINE,
    Block,
    Blockquote,
    BulletList,
    CodeBlock,
    HardBreak,
    Heading,
    HorizontalRule,
    Image,
    Inline,
    ListItem,
    Mark,
    OrderedList,
    Paragraph,
    Table,
    TableCell,
    TableRow,
    TaskItem,
    TaskList,
    Text,
    merge_runs,
)

# Any text a writer types: every script, emoji, no control characters or surrogates.
CHARS = st.characters(exclude_categories=("Cs", "Cc"))
words = st.text(CHARS, min_size=1, max_size=12)
hrefs = st.sampled_from(["https://example.com/a?b=c", "mailto:a@b.c", "https://例え.jp/パス"])


@st.composite
def marks(draw: Any) -> frozenset[Mark]:
    simple = [BOLD, ITALIC, UNDERLINE, STRIKE, CODE, SUBSCRIPT, SUPERSCRIPT]
    kinds = draw(st.sets(st.sampled_from(simple)))
    if CODE in kinds:
        kinds = {CODE}
    if SUBSCRIPT in kinds:
        kinds.discard(SUPERSCRIPT)  # they exclude each other
    found = {Mark(k) for k in kinds}
    if CODE not in kinds:
        if draw(st.booleans()):
            found.add(Mark(HIGHLIGHT, color=draw(st.sampled_from([None, "#ffff00", "#00ff7f"]))))
        if draw(st.booleans()):
            found.add(Mark(TEXT_COLOR, color=draw(st.sampled_from(["#c00000", "#123abc"]))))
    if draw(st.booleans()) and draw(st.booleans()):
        found.add(Mark(LINK, draw(hrefs)))
    return frozenset(found)


inline = st.one_of(
    st.builds(Text, words, marks()),
    st.just(HardBreak()),
)


def inlines() -> st.SearchStrategy[list[Inline]]:
    return st.lists(inline, max_size=5).map(merge_runs)


aligns = st.sampled_from([None, "left", "center", "right", "justify"])
dirs = st.sampled_from([None, "ltr", "rtl"])
sizes = st.one_of(st.none(), st.integers(1, 2000))

leaf_blocks: st.SearchStrategy[Block] = st.one_of(
    st.builds(Paragraph, inlines(), aligns, dirs),
    st.builds(Heading, st.integers(1, 6), inlines(), aligns, dirs),
    st.builds(
        CodeBlock,
        st.text(st.characters(exclude_categories=("Cs", "Cc")) | st.just("\n"), max_size=20),
        st.sampled_from([None, "python", "js"]),
    ),
    st.just(HorizontalRule()),
    st.builds(
        Image,
        st.sampled_from(["https://e.com/a.png", "data:image/png;base64,AAAA"]),
        st.text(CHARS, max_size=8),
        st.text(CHARS, max_size=8),
    ),
)


def _containers(children: st.SearchStrategy[Block]) -> st.SearchStrategy[Block]:
    item = st.builds(
        lambda first, rest: ListItem([first, *rest]),
        st.builds(Paragraph, inlines()),
        st.lists(children, max_size=2),
    )
    task = st.builds(
        lambda checked, first, rest: TaskItem(checked, [first, *rest]),
        st.booleans(),
        st.builds(Paragraph, inlines()),
        st.lists(children, max_size=1),
    )
    cell = st.builds(
        TableCell,
        st.lists(children, min_size=1, max_size=2),
        st.booleans(),
        st.integers(1, 3),
        st.integers(1, 3),
    )
    row = st.builds(TableRow, st.lists(cell, min_size=1, max_size=3))
    return st.one_of(
        st.builds(Blockquote, st.lists(children, min_size=1, max_size=3)),
        st.builds(TaskList, st.lists(task, min_size=1, max_size=3)),
        st.builds(Table, st.lists(row, min_size=1, max_size=3)),
        st.builds(BulletList, st.lists(item, min_size=1, max_size=3)),
        st.builds(OrderedList, st.integers(0, 50), st.lists(item, min_size=1, max_size=3)),
    )


blocks: st.SearchStrategy[Block] = st.recursive(leaf_blocks, _containers, max_leaves=12)
documents = st.lists(blocks, max_size=6)
