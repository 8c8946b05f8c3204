"""Hypothesis strategies for canonical document trees (what the reader returns).

Canonical: runs merged, no empty runs, no newline inside a run (that is a hard
break), the code mark only with a link, list items starting with a paragraph,
no empty list or quote. Such a tree survives tree -> Yjs -> tree unchanged.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from draftroom.document import tree

# Any text a writer types: every script, emoji, no control characters or surrogates.
CHARS = st.characters(exclude_categories=("Cs", "Cc"))
words = st.text(CHARS, min_size=1, max_size=12)
hrefs = st.sampled_from(["https://example.com/a?b=c", "mailto:a@b.c", "https://例え.jp/パス"])


@st.composite
def marks(draw: Any) -> frozenset[tree.Mark]:
    simple = [
        tree.BOLD,
        tree.ITALIC,
        tree.UNDERLINE,
        tree.STRIKE,
        tree.CODE,
        tree.SUBSCRIPT,
        tree.SUPERSCRIPT,
    ]
    kinds = draw(st.sets(st.sampled_from(simple)))
    if tree.CODE in kinds:
        kinds = {tree.CODE}
    if tree.SUBSCRIPT in kinds:
        kinds.discard(tree.SUPERSCRIPT)  # they exclude each other
    found = {tree.Mark(k) for k in kinds}
    if tree.CODE not in kinds:
        if draw(st.booleans()):
            found.add(
                tree.Mark(tree.HIGHLIGHT, color=draw(st.sampled_from([None, "#ffff00", "#00ff7f"])))
            )
        if draw(st.booleans()):
            found.add(
                tree.Mark(tree.TEXT_COLOR, color=draw(st.sampled_from(["#c00000", "#123abc"])))
            )
    if draw(st.booleans()) and draw(st.booleans()):
        found.add(tree.Mark(tree.LINK, draw(hrefs)))
    return frozenset(found)


inline = st.one_of(
    st.builds(tree.Text, words, marks()),
    st.just(tree.HardBreak()),
)


def inlines() -> st.SearchStrategy[list[tree.Inline]]:
    return st.lists(inline, max_size=5).map(tree.merge_runs)


aligns = st.sampled_from([None, "left", "center", "right", "justify"])
dirs = st.sampled_from([None, "ltr", "rtl"])
sizes = st.one_of(st.none(), st.integers(1, 2000))

leaf_blocks: st.SearchStrategy[tree.Block] = st.one_of(
    st.builds(tree.Paragraph, inlines(), aligns, dirs),
    st.builds(tree.Heading, st.integers(1, 6), inlines(), aligns, dirs),
    st.builds(
        tree.CodeBlock,
        st.text(st.characters(exclude_categories=("Cs", "Cc")) | st.just("\n"), max_size=20),
        st.sampled_from([None, "python", "js"]),
    ),
    st.just(tree.HorizontalRule()),
    st.builds(
        tree.Image,
        st.sampled_from(["https://e.com/a.png", "data:image/png;base64,AAAA"]),
        st.text(CHARS, max_size=8),
        st.text(CHARS, max_size=8),
    ),
)


def _containers(children: st.SearchStrategy[tree.Block]) -> st.SearchStrategy[tree.Block]:
    item = st.builds(
        lambda first, rest: tree.ListItem([first, *rest]),
        st.builds(tree.Paragraph, inlines()),
        st.lists(children, max_size=2),
    )
    task = st.builds(
        lambda checked, first, rest: tree.TaskItem(checked, [first, *rest]),
        st.booleans(),
        st.builds(tree.Paragraph, inlines()),
        st.lists(children, max_size=1),
    )
    cell = st.builds(
        tree.TableCell,
        st.lists(children, min_size=1, max_size=2),
        st.booleans(),
        st.integers(1, 3),
        st.integers(1, 3),
    )
    row = st.builds(tree.TableRow, st.lists(cell, min_size=1, max_size=3))
    return st.one_of(
        st.builds(tree.Blockquote, st.lists(children, min_size=1, max_size=3)),
        st.builds(tree.TaskList, st.lists(task, min_size=1, max_size=3)),
        st.builds(tree.Table, st.lists(row, min_size=1, max_size=3)),
        st.builds(tree.BulletList, st.lists(item, min_size=1, max_size=3)),
        st.builds(tree.OrderedList, st.integers(0, 50), st.lists(item, min_size=1, max_size=3)),
    )


blocks: st.SearchStrategy[tree.Block] = st.recursive(leaf_blocks, _containers, max_leaves=12)
documents = st.lists(blocks, max_size=6)
