"""Export -> import -> export: the tree survives for everything the format can hold.

Every imported tree goes through the builder and the reader (``stored``), as an
import does on its way into a document, so trees are compared as documents hold
them.
"""

from __future__ import annotations

from document.trees import documents
from hypothesis import given

from draftroom.document.build import build_update
from draftroom.document.reader import read_update
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
    Document,
    HardBreak,
    Heading,
    HorizontalRule,
    Image,
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
    children_of,
)
from draftroom.export import export_documents
from draftroom.imports import ImportLimits, parse_file

PNG = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAACgAAAAUCAIAAABwJOjsAAAAIklEQVR4nGNoGCDAMGrxqMWjFo9a"
    "PGrxqMWjFo9aPHIsBgA127A9GFEYHQAAAABJRU5ErkJggg=="
)


def stored(document: Document) -> Document:
    return read_update(build_update(document), document.title)


def round_trip(blocks: list[Block], fmt: str) -> list[Block]:
    # No title: Markdown would write it as a first heading.
    data = export_documents([Document("", blocks)], fmt)
    return stored(parse_file(data, fmt, ImportLimits())).blocks


def run(text: str, *marks: Mark) -> Text:
    return Text(text, frozenset(marks))


def para(*children: Text | HardBreak) -> Paragraph:
    return Paragraph(list(children))


def cell(text: str, **kw: object) -> TableCell:
    return TableCell([para(run(text))], **kw)  # type: ignore[arg-type]


# What all three formats hold.
COMMON: list[Block] = [
    Heading(1, [run("Chapter")]),
    Heading(3, [run("Scene")]),
    para(
        run("plain "),
        run("bold", Mark(BOLD)),
        run(" "),
        run("italic", Mark(ITALIC)),
        run(" "),
        run("under", Mark(UNDERLINE)),
        run(" "),
        run("struck", Mark(STRIKE)),
        run(" "),
        run("code", Mark(CODE)),
        run(" H"),
        run("2", Mark(SUBSCRIPT)),
        run("O x"),
        run("2", Mark(SUPERSCRIPT)),
        run(" "),
        run("hl", Mark(HIGHLIGHT)),
        run(" "),
        run("red", Mark(TEXT_COLOR, color="#ff0000")),
        run(" "),
        run("link", Mark(LINK, "https://example.com/a?b=c")),
        run(" CJK 中文 emoji 👍🏽 RTL שלום"),
    ),
    para(run("Line one"), HardBreak(), run("line two")),
    Blockquote([para(run("Quoted."))]),
    Paragraph([run("Between the quotes.")]),
    Blockquote([para(run("A quote with a list:")), BulletList([ListItem([para(run("quoted"))])])]),
    BulletList([ListItem([para(run("one")), BulletList([ListItem([para(run("nested"))])])])]),
    OrderedList(3, [ListItem([para(run("three"))]), ListItem([para(run("four"))])]),
    TaskList([TaskItem(True, [para(run("done"))]), TaskItem(False, [para(run("todo"))])]),
    Table(
        [
            TableRow([cell("Name", header=True), cell("Role", header=True)]),
            TableRow([cell("Ann"), cell("Writer")]),
        ]
    ),
    CodeBlock("def f(x):\n    return x"),
    HorizontalRule(),
    Paragraph([run("The end.")]),
]
# What HTML and DOCX hold beyond it.
RICH: list[Block] = [
    Paragraph([run("Centred")], align="center"),
    Paragraph([run("Justified")], align="justify"),
    Paragraph([run("Right")], align="right"),
    Paragraph([run("שלום עולם")], dir="rtl"),
    Table(
        [
            TableRow([cell("Wide", header=True, colspan=2)]),
            TableRow([cell("Tall", rowspan=2), cell("b")]),
            TableRow([cell("c")]),
        ]
    ),
    Image(PNG, "A grey box", "", 40),
    Paragraph(),
]


def test_markdown_keeps_what_it_can_hold() -> None:
    assert round_trip(COMMON, "md") == COMMON


def test_html_keeps_everything() -> None:
    blocks = [*COMMON[:-3], CodeBlock("x = 1", "python"), *COMMON[-2:], *RICH]
    assert round_trip(blocks, "html") == blocks


def test_docx_keeps_everything_it_can_hold() -> None:
    # A picture in Word always has both sizes: the height comes with the width.
    expected = [Image(PNG, "A grey box", "", 40, 20) if isinstance(b, Image) else b for b in RICH]
    assert round_trip([*COMMON, *RICH], "docx") == [*COMMON, *expected]


def unspanned(blocks: list[Block]) -> list[Block]:
    """Generated spans rarely make a rectangular grid (an editor's table always
    does; merged cells are covered above): every cell gets a span of one."""
    for block in blocks:
        if isinstance(block, Table):
            for row in block.rows:
                for c in row.cells:
                    c.colspan = c.rowspan = 1
        for nested in children_of(block):
            unspanned(nested)
    return blocks


@given(documents.map(unspanned))
def test_export_import_export_is_stable(blocks: list[Block]) -> None:
    """Whatever a format loses, it loses on the first trip: the second changes nothing."""
    for fmt in ("md", "html", "docx"):
        once = round_trip(blocks, fmt)
        assert round_trip(once, fmt) == once, fmt


# Markdown's escaping holes the property test found, each the smallest tree that
# showed it. A backslash break needs a line after it (at the end of a block it
# reads as a literal backslash); a reader takes a paragraph of spaces or a lone
# break as empty; an image read as the first thing in its paragraph left an empty
# paragraph beside it; a task box with no text after it joined the next block's
# first line.
GREY = "https://e.com/a.png"
EXACT: list[list[Block]] = [
    [para(run("a"), HardBreak())],
    [para(run("a\\"), HardBreak())],
    [para(run("a\\", Mark(BOLD)), HardBreak(), HardBreak())],
    [Heading(2, [run("\\")]), para(run("b\\", Mark(CODE)), HardBreak())],
    [BulletList([ListItem([para(run("x\\", Mark(LINK, "https://e.com/")), HardBreak())])])],
    [Blockquote([Image(GREY, "alt\\", "title\\")])],
    [TaskList([TaskItem(False, [para(run("\\")), Image(GREY, "\\", "")])])],
    [TaskList([TaskItem(False, [Paragraph(), CodeBlock("-")])])],
    [TaskList([TaskItem(True, [Paragraph()]), TaskItem(False, [Paragraph(), CodeBlock("-")])])],
]
UNSTABLE: list[list[Block]] = [
    [TaskList([TaskItem(False, [Paragraph(), Heading(1, [run("\\"), HardBreak()])])])],
    [Blockquote([para(run("\\")), para(run(" "))])],
    [para(run(" ", Mark(CODE)))],
    [TaskList([TaskItem(False, [para(HardBreak()), para(run("\\"))])])],
    [TaskList([TaskItem(False, [Paragraph(), Blockquote([Image(GREY, "\\", "\\")])])])],
]


def test_markdown_keeps_backslashes_and_breaks_at_block_ends() -> None:
    for blocks in EXACT:
        assert round_trip(blocks, "md") == blocks


def test_markdown_loses_on_the_first_trip_only() -> None:
    for blocks in UNSTABLE:
        once = round_trip(blocks, "md")
        assert round_trip(once, "md") == once, blocks
