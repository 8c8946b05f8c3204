from __future__ import annotations

import random
import subprocess

from markdown_it import MarkdownIt

from draftroom.document import tree
from draftroom.export import export_documents
from draftroom.export.markdown import render_markdown
from draftroom.export.safety import safe_link
from draftroom.export.tables import grid, header_rows

from .conftest import require
from .markdown_oracle import parse_markdown


def canonical(blocks: list[tree.Block]) -> list[tree.Block]:
    """The tree Markdown can carry: no empty paragraphs (Markdown has none)."""
    out: list[tree.Block] = []
    for b in blocks:
        # Alignment and direction have no Markdown form.
        if isinstance(b, tree.Paragraph):
            runs = linked(b.children)
            # Nothing but spaces and one break reads back (as HTML) as an empty one.
            breaks = sum(isinstance(n, tree.HardBreak) for n in runs)
            if breaks > 1 or any(isinstance(n, tree.Text) and n.text.strip(" ") for n in runs):
                out.append(tree.Paragraph(runs))
        elif isinstance(b, tree.Heading):
            out.append(tree.Heading(b.level, linked(b.children)))
        elif isinstance(b, tree.TaskList):
            out.append(
                tree.TaskList([tree.TaskItem(i.checked, canonical(i.children)) for i in b.items])
            )
        elif isinstance(b, tree.Table):
            out.append(canonical_table(b))
        elif isinstance(b, tree.Image):
            out.append(tree.Image(b.src, b.alt, b.title))  # no width in Markdown
        elif isinstance(b, tree.Blockquote):
            out.append(tree.Blockquote(canonical(b.children)))
        elif isinstance(b, tree.BulletList):
            out.append(tree.BulletList([tree.ListItem(canonical(i.children)) for i in b.items]))
        elif isinstance(b, tree.OrderedList):
            out.append(
                tree.OrderedList(b.start, [tree.ListItem(canonical(i.children)) for i in b.items])
            )
        else:
            out.append(b)
    return out


def linked(inlines: list[tree.Inline]) -> list[tree.Inline]:
    """Runs as exported: a link the safety policy refuses is plain text."""
    out: list[tree.Inline] = []
    for node in inlines:
        if isinstance(node, tree.Text):
            marks = frozenset(m for m in node.marks if m.kind != "link" or safe_link(m.href))
            node = tree.Text(node.text, marks)
        out.append(node)
    return tree.merge_runs(out)


def canonical_table(table: tree.Table) -> tree.Table:
    """What a GFM pipe table holds: one header row, no spans (empty cells instead)."""
    rows = []
    for r, row in enumerate(grid(table)):
        cells = []
        for slot in row:
            if slot is None or not (slot.first_row and slot.first_col):
                cells.append(tree.TableCell([], header=r == 0))
            else:
                cells.append(tree.TableCell(canonical(slot.cell.children), header=r == 0))
        rows.append(tree.TableRow(cells))
    if not header_rows(table):
        rows.insert(0, tree.TableRow([tree.TableCell([], header=True) for _ in rows[0].cells]))
    return tree.Table(rows)


def test_sample_documents_round_trip(docs: list[tree.Document]) -> None:
    for doc in docs:
        text = render_markdown([doc], titles=False)
        assert parse_markdown(text).blocks == canonical(doc.blocks), text


def test_compiled_markdown_has_titles_as_headings(docs: list[tree.Document]) -> None:
    text = export_documents(docs, "md").decode("utf-8")
    back = parse_markdown(text)
    titles = [b for b in back.blocks if isinstance(b, tree.Heading) and b.level == 1]
    assert [t.children[0].text for t in titles if isinstance(t.children[0], tree.Text)][:2] == [
        "Chapter One",
        "Chapter One: Départ 🚀",
    ]
    assert "<u>Underlined</u>" in text
    assert "~~struck~~" in text


def test_empty_document_renders_title_only() -> None:
    assert render_markdown([tree.Document("Empty")]) == "# Empty\n"
    assert render_markdown([tree.Document("")]) == ""


ALPHABET = [*list("ab cd*_~`[]()<>#&!\\-+.1=|é😀\"'"), "&amp;", "1. ", "# ", "  ", "<u>", "**"]
MARKS = [
    tree.Mark("bold"),
    tree.Mark("italic"),
    tree.Mark("strike"),
    tree.Mark("underline"),
    tree.Mark("link", "http://e.x/q?a=1"),
]


def random_inlines(rng: random.Random) -> list[tree.Inline]:
    runs: list[tree.Inline] = []
    for _ in range(rng.randint(1, 7)):
        if rng.random() < 0.08:
            runs.append(tree.HardBreak())
            continue
        text = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 6)))
        if rng.random() < 0.1:
            runs.append(tree.Text(text.replace("`", "") or "x", frozenset({tree.Mark("code")})))
        else:
            runs.append(tree.Text(text, frozenset(rng.sample(MARKS, rng.randint(0, 3)))))
    return tree.merge_runs(runs)


def test_escaping_round_trips_random_inline_content() -> None:
    rng = random.Random(20261126)
    for _ in range(3000):
        inlines = random_inlines(rng)
        if not inlines:
            continue
        doc = tree.Document(
            "",
            [
                tree.Paragraph(inlines),
                tree.Heading(2, [n for n in inlines if isinstance(n, tree.Text)]),
            ],
        )
        text = render_markdown([doc], titles=False)
        assert parse_markdown(text).blocks == canonical(doc.blocks), repr(text)


def test_pandoc_reads_the_same_html(docs: list[tree.Document]) -> None:
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
