"""A CommonMark (+ GFM strikethrough, tables, task lists) parser into the document tree:
the Markdown writer's oracle.

The export tests render a tree to Markdown, parse it back with markdown-it-py (a
real CommonMark parser) and compare trees; this is the parsing half. It lives in
the tests so that markdown-it-py is a test dependency, not a runtime one.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from markdown_it import MarkdownIt
from markdown_it.token import Token

from draftroom.document import tree


def parse_markdown(text: str, title: str = "") -> tree.Document:
    """Parse CommonMark + strikethrough into the export tree (inverse of the writer)."""
    _SOURCES.clear()
    md = MarkdownIt("commonmark").enable(["strikethrough", "table"])
    tokens = md.parse(text)
    blocks, _ = _parse_blocks(tokens, 0, None)
    return tree.Document(title, blocks)


def _parse_blocks(tokens: list[Token], i: int, until: str | None) -> tuple[list[tree.Block], int]:
    blocks: list[tree.Block] = []
    while i < len(tokens):
        tok = tokens[i]
        if until and tok.type == until:
            return blocks, i + 1
        t = tok.type
        if t == "paragraph_open":
            inlines = _parse_inlines(tokens[i + 1].children or [])
            if len(inlines) == 1 and isinstance(inlines[0], tree.Image):
                blocks.append(inlines[0])
            else:
                para = tree.Paragraph(
                    tree.merge_runs(x for x in inlines if not isinstance(x, tree.Image))
                )
                _SOURCES[id(para)] = tokens[i + 1].content
                blocks.append(para)
            i += 3
        elif t == "heading_open":
            inlines = _parse_inlines(tokens[i + 1].children or [])
            runs = tree.merge_runs(x for x in inlines if not isinstance(x, tree.Image))
            blocks.append(tree.Heading(int(tok.tag[1]), runs))
            i += 3
        elif t == "blockquote_open":
            inner, i = _parse_blocks(tokens, i + 1, "blockquote_close")
            blocks.append(tree.Blockquote(inner))
        elif t in ("bullet_list_open", "ordered_list_open"):
            close = t.replace("open", "close")
            items: list[tree.ListItem] = []
            i += 1
            while tokens[i].type != close:
                inner, i = _parse_blocks(tokens, i + 1, "list_item_close")
                items.append(tree.ListItem(inner))
            i += 1
            if t == "ordered_list_open":
                blocks.append(tree.OrderedList(int(tok.attrGet("start") or 1), items))
            elif items and all(_task_box(item) is not None for item in items):
                blocks.append(tree.TaskList([_task(item) for item in items]))
            else:
                blocks.append(tree.BulletList(items))
        elif t == "table_open":
            rows: list[tree.TableRow] = []
            i += 1
            while tokens[i].type != "table_close":
                if tokens[i].type == "tr_open":
                    rows.append(tree.TableRow([]))
                elif tokens[i].type in ("th_open", "td_open"):
                    inlines = _parse_inlines(tokens[i + 1].children or [])
                    runs = tree.merge_runs(x for x in inlines if not isinstance(x, tree.Image))
                    cell = tree.TableCell(
                        [tree.Paragraph(runs)] if runs else [], tokens[i].type == "th_open"
                    )
                    rows[-1].cells.append(cell)
                i += 1
            i += 1
            blocks.append(tree.Table(rows))
        elif t in ("fence", "code_block"):
            body = tok.content[:-1] if tok.content.endswith("\n") else tok.content
            blocks.append(tree.CodeBlock(body, tok.info.strip() or None))
            i += 1
        elif t == "hr":
            blocks.append(tree.HorizontalRule())
            i += 1
        else:
            i += 1
    return blocks, i


_HTML_MARKS = {
    "strong": tree.BOLD,
    "em": tree.ITALIC,
    "s": tree.STRIKE,
    "u": tree.UNDERLINE,
    "sub": tree.SUBSCRIPT,
    "sup": tree.SUPERSCRIPT,
    "mark": tree.HIGHLIGHT,
    "span": tree.TEXT_COLOR,
}
_TASK = re.compile(r"\[([ xX])\] ?")


# Raw source of parsed paragraphs (the tree has no field for it): "\[ ]" is text,
# "[ ]" a task box, and only the source tells them apart.
_SOURCES: dict[int, str] = {}


def _task_box(item: tree.ListItem) -> bool | None:
    """A GFM task item's state, from the raw source of its first paragraph ("[x] ")."""
    first = item.children[0] if item.children else None
    raw = _SOURCES.get(id(first))
    match = _TASK.match(raw or "")
    return None if match is None else match.group(1) != " "


def _task(item: tree.ListItem) -> tree.TaskItem:
    first = item.children[0]
    assert isinstance(first, tree.Paragraph)
    runs = list(first.children)
    head = runs[0]
    assert isinstance(head, tree.Text)
    rest = _TASK.sub("", head.text, count=1)
    runs = [tree.Text(rest, head.marks), *runs[1:]] if rest else runs[1:]
    return tree.TaskItem(
        bool(_task_box(item)), [tree.Paragraph(tree.merge_runs(runs)), *item.children[1:]]
    )


def _url(value: object) -> str:
    # markdown-it percent-encodes destinations; the tree holds them as written.
    return unquote(str(value or ""))


def _parse_inlines(children: list[Token]) -> list[tree.Inline | tree.Image]:
    out: list[tree.Inline | tree.Image] = []
    marks: list[tree.Mark] = []
    simple = {"strong": tree.BOLD, "em": tree.ITALIC, "s": tree.STRIKE}

    def add(text: str, extra: tree.Mark | None = None) -> None:
        current = frozenset(marks) | ({extra} if extra else set())
        out.append(tree.Text(text, current))

    for tok in children:
        t = tok.type
        name = t.rsplit("_", 1)[0]
        if t.endswith("_open") and name in simple:
            marks.append(tree.Mark(simple[name]))
        elif t.endswith("_close") and name in simple:
            marks.remove(tree.Mark(simple[name]))
        elif t == "link_open":
            marks.append(tree.Mark(tree.LINK, _url(tok.attrGet("href"))))
        elif t == "link_close":
            marks.pop(next(i for i in range(len(marks) - 1, -1, -1) if marks[i].kind == tree.LINK))
        elif t == "code_inline":
            add(tok.content, tree.Mark(tree.CODE))
        elif t == "hardbreak":
            out.append(tree.HardBreak())
        elif t == "softbreak":
            add(" ")
        elif t == "image":
            alt = "".join(child.content for child in tok.children or [])
            out.append(tree.Image(_url(tok.attrGet("src")), alt, str(tok.attrGet("title") or "")))
        elif t == "html_inline":
            m = re.fullmatch(
                r"<(/?)(\w+)(?:\s+style=\"([\w-]+): (#[0-9a-f]{6})\")?\s*/?>", tok.content.strip()
            )
            if m and m.group(2) == "br":
                out.append(tree.HardBreak())
            elif m and m.group(2) in _HTML_MARKS:
                kind = _HTML_MARKS[m.group(2)]
                if m.group(1):
                    opened = [x for x in marks if x.kind == kind]
                    if opened:
                        marks.remove(opened[-1])
                else:
                    marks.append(tree.Mark(kind, color=m.group(4)))
            else:
                add(tok.content)
        else:
            add(tok.content)
    return out
