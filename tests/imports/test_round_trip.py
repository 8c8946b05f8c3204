"""Export -> import -> export: the tree survives for everything the format can hold.

Every imported tree goes through the builder and the reader (``stored``), as an
import does on its way into a document, so trees are compared as documents hold
them.
"""

from __future__ import annotations

from document.trees import documents
from hypothesis import given

from draftroom.document import tree
from draftroom.document.build import build_update
from draftroom.document.reader import read_update
from draftroom.export import export_documents
from draftroom.imports import ImportLimits, parse_file

PNG = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAACgAAAAUCAIAAABwJOjsAAAAIklEQVR4nGNoGCDAMGrxqMWjFo9a"
    "PGrxqMWjFo9aPHIsBgA127A9GFEYHQAAAABJRU5ErkJggg=="
)


def stored(document: tree.Document) -> tree.Document:
    return read_update(build_update(document), document.title)


def round_trip(blocks: list[tree.Block], fmt: str) -> list[tree.Block]:
    # No title: Markdown would write it as a first heading.
    data = export_documents([tree.Document("", blocks)], fmt)
    return stored(parse_file(data, fmt, ImportLimits())).blocks


def run(text: str, *marks: tree.Mark) -> tree.Text:
    return tree.Text(text, frozenset(marks))


def para(*children: tree.Text | tree.HardBreak) -> tree.Paragraph:
    return tree.Paragraph(list(children))


def cell(text: str, **kw: object) -> tree.TableCell:
    return tree.TableCell([para(run(text))], **kw)  # type: ignore[arg-type]


# What all three formats hold.
COMMON: list[tree.Block] = [
    tree.Heading(1, [run("Chapter")]),
    tree.Heading(3, [run("Scene")]),
    para(
        run("plain "),
        run("bold", tree.Mark(tree.BOLD)),
        run(" "),
        run("italic", tree.Mark(tree.ITALIC)),
        run(" "),
        run("under", tree.Mark(tree.UNDERLINE)),
        run(" "),
        run("struck", tree.Mark(tree.STRIKE)),
        run(" "),
        run("code", tree.Mark(tree.CODE)),
        run(" H"),
        run("2", tree.Mark(tree.SUBSCRIPT)),
        run("O x"),
        run("2", tree.Mark(tree.SUPERSCRIPT)),
        run(" "),
        run("hl", tree.Mark(tree.HIGHLIGHT)),
        run(" "),
        run("red", tree.Mark(tree.TEXT_COLOR, color="#ff0000")),
        run(" "),
        run("link", tree.Mark(tree.LINK, "https://example.com/a?b=c")),
        run(" CJK 中文 emoji 👍🏽 RTL שלום"),
    ),
    para(run("Line one"), tree.HardBreak(), run("line two")),
    tree.Blockquote([para(run("Quoted."))]),
    tree.Paragraph([run("Between the quotes.")]),
    tree.Blockquote(
        [para(run("A quote with a list:")), tree.BulletList([tree.ListItem([para(run("quoted"))])])]
    ),
    tree.BulletList(
        [tree.ListItem([para(run("one")), tree.BulletList([tree.ListItem([para(run("nested"))])])])]
    ),
    tree.OrderedList(3, [tree.ListItem([para(run("three"))]), tree.ListItem([para(run("four"))])]),
    tree.TaskList(
        [tree.TaskItem(True, [para(run("done"))]), tree.TaskItem(False, [para(run("todo"))])]
    ),
    tree.Table(
        [
            tree.TableRow([cell("Name", header=True), cell("Role", header=True)]),
            tree.TableRow([cell("Ann"), cell("Writer")]),
        ]
    ),
    tree.CodeBlock("def f(x):\n    return x"),
    tree.HorizontalRule(),
    tree.Paragraph([run("The end.")]),
]
# What HTML and DOCX hold beyond it.
RICH: list[tree.Block] = [
    tree.Paragraph([run("Centred")], align="center"),
    tree.Paragraph([run("Justified")], align="justify"),
    tree.Paragraph([run("Right")], align="right"),
    tree.Paragraph([run("שלום עולם")], dir="rtl"),
    tree.Table(
        [
            tree.TableRow([cell("Wide", header=True, colspan=2)]),
            tree.TableRow([cell("Tall", rowspan=2), cell("b")]),
            tree.TableRow([cell("c")]),
        ]
    ),
    tree.Image(PNG, "A grey box", "", 40),
    tree.Paragraph(),
]


def test_markdown_keeps_what_it_can_hold() -> None:
    assert round_trip(COMMON, "md") == COMMON


def test_html_keeps_everything() -> None:
    blocks = [*COMMON[:-3], tree.CodeBlock("x = 1", "python"), *COMMON[-2:], *RICH]
    assert round_trip(blocks, "html") == blocks


def test_docx_keeps_everything_it_can_hold() -> None:
    # A picture in Word always has both sizes: the height comes with the width.
    expected = [
        tree.Image(PNG, "A grey box", "", 40, 20) if isinstance(b, tree.Image) else b for b in RICH
    ]
    assert round_trip([*COMMON, *RICH], "docx") == [*COMMON, *expected]


def unspanned(blocks: list[tree.Block]) -> list[tree.Block]:
    """Generated spans rarely make a rectangular grid (an editor's table always
    does; merged cells are covered above): every cell gets a span of one."""
    for block in blocks:
        if isinstance(block, tree.Table):
            for row in block.rows:
                for c in row.cells:
                    c.colspan = c.rowspan = 1
        for nested in tree.children_of(block):
            unspanned(nested)
    return blocks


@given(documents.map(unspanned))
def test_export_import_export_is_stable(blocks: list[tree.Block]) -> None:
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
EXACT: list[list[tree.Block]] = [
    [para(run("a"), tree.HardBreak())],
    [para(run(" two  spaces "), tree.HardBreak(), run("  edges  ", tree.Mark(tree.BOLD)))],
    [para(run("a\\"), tree.HardBreak())],
    [para(run("a\\", tree.Mark(tree.BOLD)), tree.HardBreak(), tree.HardBreak())],
    [tree.Heading(2, [run("\\")]), para(run("b\\", tree.Mark(tree.CODE)), tree.HardBreak())],
    [
        tree.BulletList(
            [
                tree.ListItem(
                    [para(run("x\\", tree.Mark(tree.LINK, "https://e.com/")), tree.HardBreak())]
                )
            ]
        )
    ],
    [tree.Blockquote([tree.Image(GREY, "alt\\", "title\\")])],
    [tree.TaskList([tree.TaskItem(False, [para(run("\\")), tree.Image(GREY, "\\", "")])])],
    [tree.TaskList([tree.TaskItem(False, [tree.Paragraph(), tree.CodeBlock("-")])])],
    [
        tree.TaskList(
            [
                tree.TaskItem(True, [tree.Paragraph()]),
                tree.TaskItem(False, [tree.Paragraph(), tree.CodeBlock("-")]),
            ]
        )
    ],
]
UNSTABLE: list[list[tree.Block]] = [
    [
        tree.TaskList(
            [
                tree.TaskItem(
                    False, [tree.Paragraph(), tree.Heading(1, [run("\\"), tree.HardBreak()])]
                )
            ]
        )
    ],
    [tree.Blockquote([para(run("\\")), para(run(" "))])],
    [para(run(" ", tree.Mark(tree.CODE)))],
    [tree.TaskList([tree.TaskItem(False, [para(tree.HardBreak()), para(run("\\"))])])],
    [
        tree.TaskList(
            [
                tree.TaskItem(
                    False, [tree.Paragraph(), tree.Blockquote([tree.Image(GREY, "\\", "\\")])]
                )
            ]
        )
    ],
]


def test_markdown_keeps_backslashes_and_breaks_at_block_ends() -> None:
    for blocks in EXACT:
        assert round_trip(blocks, "md") == blocks


def test_a_link_in_a_header_cell_is_as_bold_as_the_row() -> None:
    # A header cell all in bold reads back unbolded (the bold is the row's look); a
    # link's runs were left out of the row's bold, so the second trip differed.
    bold, link = tree.Mark(tree.BOLD), tree.Mark(tree.LINK, href="https://example.com/a")
    cell = tree.TableCell([para(run("000"), run("0", link, bold))], header=True)
    blocks: list[tree.Block] = [tree.Table([tree.TableRow([cell])])]
    once = round_trip(blocks, "docx")
    assert round_trip(once, "docx") == once


def test_markdown_loses_on_the_first_trip_only() -> None:
    for blocks in UNSTABLE:
        once = round_trip(blocks, "md")
        assert round_trip(once, "md") == once, blocks
