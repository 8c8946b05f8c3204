from __future__ import annotations

import random
import subprocess

from markdown_it import MarkdownIt

from draftroom.document.tree import (
    Block,
    Blockquote,
    BulletList,
    Document,
    HardBreak,
    Heading,
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
from draftroom.export import export_documents
from draftroom.export.markdown import render_markdown
from draftroom.export.safety import safe_link
from draftroom.export.tables import grid, header_rows

from .conftest import require
from .markdown_oracle import parse_markdown


def canonical(blocks: list[Block]) -> list[Block]:
    """The tree Markdown can carry: no empty paragraphs (Markdown has none)."""
    out: list[Block] = []
    for b in blocks:
        # Alignment and direction have no Markdown form.
        if isinstance(b, Paragraph):
            runs = linked(b.children)
            # Nothing but spaces and one break reads back (as HTML) as an empty one.
            breaks = sum(isinstance(n, HardBreak) for n in runs)
            if breaks > 1 or any(isinstance(n, Text) and n.text.strip(" ") for n in runs):
                out.append(Paragraph(runs))
        elif isinstance(b, Heading):
            out.append(Heading(b.level, linked(b.children)))
        elif isinstance(b, TaskList):
            out.append(TaskList([TaskItem(i.checked, canonical(i.children)) for i in b.items]))
        elif isinstance(b, Table):
            out.append(canonical_table(b))
        elif isinstance(b, Image):
            out.append(Image(b.src, b.alt, b.title))  # no width in Markdown
        elif isinstance(b, Blockquote):
            out.append(Blockquote(canonical(b.children)))
        elif isinstance(b, BulletList):
            out.append(BulletList([ListItem(canonical(i.children)) for i in b.items]))
        elif isinstance(b, OrderedList):
            out.append(OrderedList(b.start, [ListItem(canonical(i.children)) for i in b.items]))
        else:
            out.append(b)
    return out


def linked(inlines: list[Inline]) -> list[Inline]:
    """Runs as exported: a link the safety policy refuses is plain text."""
    out: list[Inline] = []
    for node in inlines:
        if isinstance(node, Text):
            marks = frozenset(m for m in node.marks if m.kind != "link" or safe_link(m.href))
            node = Text(node.text, marks)
        out.append(node)
    return merge_runs(out)


def canonical_table(table: Table) -> Table:
    """What a GFM pipe table holds: one header row, no spans (empty cells instead)."""
    rows = []
    for r, row in enumerate(grid(table)):
        cells = []
        for slot in row:
            if slot is None or not (slot.first_row and slot.first_col):
                cells.append(TableCell([], header=r == 0))
            else:
                cells.append(TableCell(canonical(slot.cell.children), header=r == 0))
        rows.append(TableRow(cells))
    if not header_rows(table):
        rows.insert(0, TableRow([TableCell([], header=True) for _ in rows[0].cells]))
    return Table(rows)


def test_sample_documents_round_trip(docs: list[Document]) -> None:
    for doc in docs:
        text = render_markdown([doc], titles=False)
        assert parse_markdown(text).blocks == canonical(doc.blocks), text


def test_compiled_markdown_has_titles_as_headings(docs: list[Document]) -> None:
    text = export_documents(docs, "md").decode("utf-8")
    back = parse_markdown(text)
    titles = [b for b in back.blocks if isinstance(b, Heading) and b.level == 1]
    assert [t.children[0].text for t in titles if isinstance(t.children[0], Text)][:2] == [
        "Chapter One",
        "Chapter One: Départ 🚀",
    ]
    assert "<u>Underlined</u>" in text
    assert "~~struck~~" in text


def test_empty_document_renders_title_only() -> None:
    assert render_markdown([Document("Empty")]) == "# Empty\n"
    assert render_markdown([Document("")]) == ""


ALPHABET = [*list("ab cd*_~`[]()<>#&!\\-+.1=|é😀\"'"), "&amp;", "1. ", "# ", "  ", "<u>", "**"]
MARKS = [
    Mark("bold"),
    Mark("italic"),
    Mark("strike"),
    Mark("underline"),
    Mark("link", "http://e.x/q?a=1"),
]


def random_inlines(rng: random.Random) -> list[Inline]:
    runs: list[Inline] = []
    for _ in range(rng.randint(1, 7)):
        if rng.random() < 0.08:
            runs.append(HardBreak())
            continue
        text = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 6)))
        if rng.random() < 0.1:
            runs.append(Text(text.replace("`", "") or "x", frozenset({Mark("code")})))
        else:
            runs.append(Text(text, frozenset(rng.sample(MARKS, rng.randint(0, 3)))))
    return merge_runs(runs)


def test_escaping_round_trips_random_inline_content() -> None:
    rng = random.Random(20261126)
    for _ in range(3000):
        inlines = random_inlines(rng)
        if not inlines:
            continue
        doc = Document(
            "", [Paragraph(inlines), Heading(2, [n for n in inlines if isinstance(n, Text)])]
        )
        text = render_markdown([doc], titles=False)
        assert parse_markdown(text).blocks == canonical(doc.blocks), repr(text)


def test_pandoc_reads_the_same_html(docs: list[Document]) -> None:
    require("pandoc")
    text = render_markdown(docs)
    ours = MarkdownIt("commonmark").enable("strikethrough").render(text)
    done = subprocess.run(
        ["pandoc", "-f", "commonmark+strikeout", "-t", "plain", "--wrap=none"],
        input=text,
        capture_output=True,
        text=True,
        check=True,
    )
    for word in ("Départ", "Zürich", "Williams", "Sixth", "braces", "ümlauts", "🎉"):
        assert word in done.stdout and word in ours
