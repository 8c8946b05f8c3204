"""The reader keeps every TipTap node and mark, and cleans text once for every format."""

from __future__ import annotations

from export.builders import B, el, h, p, txt
from export.builders import make_doc as build

from draftroom.document.clean import clean_name, clean_text
from draftroom.document.reader import read_document
from draftroom.document.tree import (
    Document,
    Heading,
    Image,
    Mark,
    Paragraph,
    Table,
    TaskList,
    split_scenes,
)
from draftroom.document.tree import Text as Run


def test_tables_keep_header_cells_and_spans() -> None:
    doc = read_document(
        build(
            el(
                "table",
                None,
                el(
                    "tableRow",
                    None,
                    el("tableHeader", {"colspan": 2.0, "rowspan": 1.0}, p("Name")),
                    el("tableHeader", None, p("Age")),
                ),
                el("tableRow", None, el("tableCell", {"rowspan": 2, "colspan": 10**9}, p("Ann"))),
            )
        ),
        "t",
    )
    table = doc.blocks[0]
    assert isinstance(table, Table)
    head, body = table.rows
    assert [(c.header, c.colspan, c.rowspan) for c in head.cells] == [(True, 2, 1), (True, 1, 1)]
    assert body.cells[0].header is False and body.cells[0].rowspan == 2
    assert body.cells[0].colspan == 64  # capped: a hostile span cannot blow up a grid
    assert body.cells[0].children == [Paragraph([Run("Ann")])]


def test_task_items_keep_their_checked_state() -> None:
    doc = read_document(
        build(
            el(
                "taskList",
                None,
                el("taskItem", {"checked": True}, p("done")),
                el("taskItem", {"checked": False}, p("todo")),
                el("taskItem", {"checked": "true"}, p("from a string")),
            )
        ),
        "t",
    )
    tasks = doc.blocks[0]
    assert isinstance(tasks, TaskList)
    assert [item.checked for item in tasks.items] == [True, False, True]
    assert tasks.items[1].children == [Paragraph([Run("todo")])]


def test_new_marks_with_normalised_colours() -> None:
    doc = read_document(
        build(
            p(
                ("H", {"subscript": {}}),
                ("2", {"superscript": {}}),
                ("hi", {"highlight": {"color": "#FC0"}}),
                ("red", {"textStyle": {"color": "rgb(255, 0, 0)"}}),
                ("font only", {"textStyle": {"fontFamily": "Inter"}}),
                ("bad", {"textStyle": {"color": "red;background:url(x)"}}),
                ("both", {"subscript": {}, "superscript": {}}),
            )
        ),
        "t",
    )
    para = doc.blocks[0]
    assert isinstance(para, Paragraph)
    assert para.children == [
        Run("H", frozenset({Mark("subscript")})),
        Run("2", frozenset({Mark("superscript")})),
        Run("hi", frozenset({Mark("highlight", color="#ffcc00")})),
        Run("red", frozenset({Mark("textStyle", color="#ff0000")})),
        Run("font onlybad"),
        Run("both", frozenset({Mark("superscript")})),
    ]


def test_alignment_direction_and_image_size() -> None:
    doc = read_document(
        build(
            el("paragraph", {"textAlign": "center", "dir": "rtl"}, txt("שלום")),
            el("heading", {"level": 2, "textAlign": "bogus", "dir": "auto"}, txt("H")),
            el("image", {"src": "data:x", "alt": "A", "width": "320px", "height": 200.0}),
            el("image", {"src": "data:y", "width": -5}),
        ),
        "t",
    )
    para, heading, sized, unsized = doc.blocks
    assert isinstance(para, Paragraph) and (para.align, para.dir) == ("center", "rtl")
    assert isinstance(heading, Heading) and (heading.align, heading.dir) == (None, None)
    assert isinstance(sized, Image) and (sized.width, sized.height) == (320, 200)
    assert isinstance(unsized, Image) and unsized.width is None


def test_xml_illegal_characters_are_removed_once_in_the_reader() -> None:
    # Vertical tab, form feed, ESC, BEL and a C1 control: DOCX failed with a 500 on them.
    dirty = "a\x0bb\x0cc\x1bd\x07e\x85f\x9bg\ufffe"
    doc = read_document(build(p(dirty, ("x\x0b", B)), h(1, "t\x0bi")), "Ti\x07tle\x0b")
    para, heading = doc.blocks
    assert isinstance(para, Paragraph)
    assert para.children == [Run("abcde\x85fg"), Run("x", frozenset({Mark("bold")}))]
    assert isinstance(heading, Heading) and heading.children == [Run("ti")]
    assert doc.title == "Title"
    assert clean_text("tab\tand\r\nline") == "tab\tand\nline"


def test_names_lose_bidi_overrides_and_zero_width_but_body_text_keeps_them() -> None:
    spoof = "invoice\u202egpj.exe\u200b\u2066x\u2069"
    doc = read_document(build(p(spoof)), spoof)
    assert doc.title == "invoicegpj.exex"
    assert isinstance(doc.blocks[0], Paragraph)
    assert doc.blocks[0].children == [Run(spoof)]
    # A ZWJ inside an emoji sequence, or a ZWNJ in Persian, is spelling: kept.
    assert clean_name("family 👨\u200d👩 ok\u200d") == "family 👨\u200d👩 ok"
    persian = "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"  # "I want", with a ZWNJ
    assert clean_name(persian) == persian
    assert clean_name(" line\nbreak\ttab ") == "line break tab"


def test_split_scenes_keeps_a_heading_without_body() -> None:
    doc = Document(
        "Book",
        [
            Paragraph([Run("preface")]),
            Heading(1, [Run("Empty chapter")]),
            Heading(1, [Run("Full \u202echapter")]),
            Paragraph([Run("text")]),
            Heading(2, [Run("Last, empty")]),
        ],
    )
    scenes = split_scenes(doc)
    assert [(s.title, len(s.blocks)) for s in scenes] == [
        ("Book", 1),
        ("Empty chapter", 0),
        ("Full chapter", 1),
        ("Last, empty", 0),
    ]
    assert [s.title for s in split_scenes(Document("B", [Heading(1, [Run("Only")])]))] == ["Only"]
    assert [s.title for s in split_scenes(Document("B"))] == ["B"]


def test_agents_read_task_lists_and_table_cells_as_lines() -> None:
    from draftroom.document.text import read_text

    ydoc = build(
        el("taskList", None, el("taskItem", {"checked": True}, p("task text"))),
        el("table", None, el("tableRow", None, el("tableCell", None, p("cell text")))),
    )
    text = read_text(ydoc)
    assert [text.line_text(line) for line in text.lines] == ["task text", "cell text"]
