"""CommonMark (+ GFM strikethrough) writer.

Underline has no Markdown syntax: it is written as inline HTML ``<u>…</u>``, which
CommonMark passes through and pandoc/GitHub render. Where a ``*``/``**``/``~~``
delimiter would not be recognised by a CommonMark parser (flanking rules: e.g.
emphasis that starts or ends with a space, or punctuation inside a word) the
writer falls back to ``<em>``, ``<strong>``, ``<s>`` so the tree survives.
Empty paragraphs cannot be expressed and are dropped, as are those a reader would
see as empty (only spaces, or a lone line break).

GFM constructs carry what CommonMark cannot: task lists (``- [x]``) and pipe
tables. A pipe table has exactly one header row (an empty one is written when the
table has none), one line per cell and no merged cells, so spans become empty cells
and a cell's blocks are joined with ``<br />``. Sub/superscript, highlight and text
colour are inline HTML (``<sub>``, ``<sup>``, ``<mark>``, ``<span style="color">``),
the colour being one the reader has already reduced to ``#rrggbb``. Alignment,
direction and image width have no Markdown form and are dropped (the text stays).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from draftroom.document import tree
from draftroom.export.formats import ExportFormat
from draftroom.export.options import ExportOptions
from draftroom.export.safety import plain_line, safe_image, safe_language, safe_link
from draftroom.export.tables import grid, header_rows

_DELIMS = {tree.BOLD: "**", tree.ITALIC: "*", tree.STRIKE: "~~"}
_HTML = {
    tree.BOLD: "strong",
    tree.ITALIC: "em",
    tree.STRIKE: "s",
    tree.UNDERLINE: "u",
    tree.SUBSCRIPT: "sub",
    tree.SUPERSCRIPT: "sup",
    tree.HIGHLIGHT: "mark",
    tree.TEXT_COLOR: "span",
}
_ALWAYS_ESCAPE = re.compile(r"([\\`*_\[\]<>~])")
_ENTITY_LIKE = re.compile(r"&(?=#?[0-9A-Za-z]+;)")
_LINE_START = re.compile(r"^([#>+=-]|\d+(?=[.)]))")


def render_markdown(docs: list[tree.Document], *, titles: bool = True) -> str:
    """Render documents into one Markdown text; each title becomes a level-1 heading."""
    parts: list[str] = []
    for doc in docs:
        blocks: list[tree.Block] = list(doc.blocks)
        if titles and doc.title:
            blocks.insert(0, tree.Heading(1, [tree.Text(doc.title)]))
        text = _blocks(blocks)
        if text:
            parts.append(text)
    return "\n\n".join(parts) + "\n" if parts else ""


def _blocks(blocks: list[tree.Block]) -> str:
    out: list[str] = []
    previous: tree.Block | None = None
    alternate = False
    for block in blocks:
        # Two lists of the same kind in a row would merge: switch the marker.
        same_list = _list_kind(block) is not None and _list_kind(block) == _list_kind(previous)
        alternate = (not alternate) if same_list else False
        text = _block(block, alternate)
        if text is not None:
            out.append(text)
            previous = block
    return "\n\n".join(out)


def _list_kind(block: tree.Block | None) -> str | None:
    # A task list is a bullet list to a parser: next to one, it would merge.
    if isinstance(block, tree.BulletList | tree.TaskList):
        return "bullet"
    return "ordered" if isinstance(block, tree.OrderedList) else None


def _block(block: tree.Block, alternate: bool = False) -> str | None:
    if isinstance(block, tree.Paragraph):
        if _blank(block.children):
            return None
        return _inlines(block.children)
    if isinstance(block, tree.Heading):
        text = _inlines(block.children, heading=True)
        return "#" * block.level + (" " + text if text else "")
    if isinstance(block, tree.Blockquote):
        inner = _blocks(block.children)
        return "\n".join(">" + (" " + line if line else "") for line in inner.split("\n"))
    if isinstance(block, tree.BulletList):
        return _list(block.items, lambda _: "*" if alternate else "-")
    if isinstance(block, tree.TaskList):
        return _list(block.items, lambda _: "*" if alternate else "-")
    if isinstance(block, tree.Table):
        return _table(block)
    if isinstance(block, tree.OrderedList):
        sep = ")" if alternate else "."
        return _list(block.items, lambda i: f"{block.start + i}{sep}")
    if isinstance(block, tree.CodeBlock):
        longest = max((len(r) for r in re.findall(r"`+", block.text)), default=0)
        fence = "`" * max(3, longest + 1)
        body = block.text + "\n" if block.text else ""
        # The info string is one bare word: a line break there would end the fence
        # and let the rest of the "language" through as raw HTML.
        return f"{fence}{safe_language(block.language)}\n{body}{fence}"
    if isinstance(block, tree.HorizontalRule):
        return "***"
    if isinstance(block, tree.Image):
        return _image(block)
    return None


def _blank(inlines: list[tree.Inline]) -> bool:
    """Whether a paragraph reads back as an empty one, which has no Markdown form.

    A reader drops spaces at the edges of a line and takes a lone break for the
    ``<br>`` that holds an empty paragraph open, as a browser shows them.
    """
    breaks = sum(isinstance(node, tree.HardBreak) for node in inlines)
    return breaks <= 1 and all(
        isinstance(node, tree.HardBreak) or not node.text.strip(" \t") for node in inlines
    )


def _list(items: Sequence[tree.ListItem | tree.TaskItem], marker) -> str:  # type: ignore[no-untyped-def]
    rendered: list[str] = []
    loose = any(len(item.children) > 1 for item in items)
    for i, item in enumerate(items):
        mark = marker(i)
        pad = " " * (len(mark) + 1)
        inner = _blocks(item.children)
        if isinstance(item, tree.TaskItem):
            # The box goes before the item's text; "[" in text is always escaped,
            # so an ordinary item never turns into a task. With no text to lead
            # (a blank first paragraph), the box is that paragraph: before a fence or
            # a rule it would otherwise join their first line.
            box = "[x]" if item.checked else "[ ]"
            lead = item.children[0] if item.children else None
            if isinstance(lead, tree.Paragraph) and not _blank(lead.children):
                inner = f"{box} {inner}"
            else:
                inner = box + ("\n\n" + inner if inner else " ")
        lines = inner.split("\n") if inner else [""]
        first = f"{mark} {lines[0]}" if lines[0] else mark
        rest = [pad + line if line else "" for line in lines[1:]]
        rendered.append("\n".join([first, *rest]))
    return ("\n\n" if loose else "\n").join(rendered)


def _table(table: tree.Table) -> str:
    slots = grid(table)
    width = len(slots[0]) if slots else 0
    if not width:
        return ""
    rows = [
        [
            _cell(slot.cell.children) if slot and slot.first_row and slot.first_col else ""
            for slot in row
        ]
        for row in slots
    ]
    if not header_rows(table):
        rows.insert(0, [""] * width)  # GFM requires a header row
    lines = ["| " + " | ".join(row) + " |" for row in rows]
    lines.insert(1, "|" + "|".join([" --- "] * width) + "|")
    return "\n".join(lines)


def _cell(blocks: list[tree.Block]) -> str:
    """A cell's blocks on one line: a pipe table row cannot span lines."""
    parts = []
    for block in blocks:
        if isinstance(block, tree.Paragraph | tree.Heading):
            parts.append(_inlines(block.children, heading=True))
        else:
            parts.append(_escape(plain_line(tree.plain_text([block])), False, True))
    # GFM splits cells at unescaped pipes, code spans included.
    return "<br />".join(parts).replace("|", "\\|")


def _image(image: tree.Image) -> str:
    # One line each: a blank line inside alt or title would end the image and start
    # a paragraph of raw HTML.
    alt = _ALWAYS_ESCAPE.sub(r"\\\1", plain_line(image.alt))
    title = plain_line(image.title).replace("\\", "\\\\").replace('"', '\\"')
    title = f' "{title}"' if title else ""
    src = safe_image(image.src) or safe_link(image.src) or ""
    return f"![{alt}]({_destination(src)}{title})"


def _destination(url: str) -> str:
    if not url or re.search(r"[\s()<>]", url):
        return "<" + re.sub(r"([<>\\])", r"\\\1", url) + ">"
    return url.replace("\\", "\\\\")


# --- inline content -------------------------------------------------------


@dataclass
class _Tok:
    text: str
    kind: str = "text"  # text | open | close | raw
    mark: str = ""
    pair: int = -1  # index of the matching open/close token
    html: bool = False
    color: str | None = None


def _inlines(inlines: list[tree.Inline], *, heading: bool = False) -> str:
    toks = _tokens(tree.merge_runs(inlines), heading)
    _choose_delimiters(toks)
    out: list[str] = []
    for tok in toks:
        if tok.kind in ("open", "close") and tok.mark in _DELIMS and not tok.html:
            out.append(_DELIMS[tok.mark])
        elif tok.kind in ("open", "close") and tok.mark in _HTML:
            tag = _HTML[tok.mark]
            out.append(_open_html(tok) if tok.kind == "open" else f"</{tag}>")
        else:
            out.append(tok.text)
    return _protect_line_edges("".join(out))


def _open_html(tok: _Tok) -> str:
    # The colour is "#rrggbb" (the reader accepts nothing else): safe in an attribute.
    if tok.mark == tree.TEXT_COLOR:
        return f'<span style="color: {tok.color}">'
    if tok.mark == tree.HIGHLIGHT and tok.color:
        return f'<mark style="background-color: {tok.color}">'
    return f"<{_HTML[tok.mark]}>"


def _tokens(inlines: list[tree.Inline], heading: bool) -> list[_Tok]:
    toks: list[_Tok] = []
    stack: list[tuple[tree.Mark, int]] = []
    at_line_start = True

    def close_to(depth: int) -> None:
        while len(stack) > depth:
            mark, at = stack.pop()
            if mark.kind == tree.LINK:
                toks.append(_Tok("](" + _destination(safe_link(mark.href) or "") + ")", "raw"))
            else:
                toks[at].pair = len(toks)
                toks.append(_Tok("", "close", mark.kind, at))

    # A backslash break needs a line after it: at the end of a block it is a
    # literal backslash. Breaks after the last text are written as HTML.
    last_text = max((i for i, n in enumerate(inlines) if isinstance(n, tree.Text)), default=-1)
    for at, node in enumerate(inlines):
        if isinstance(node, tree.HardBreak):
            close_to(0)
            toks.append(_Tok("<br />" if heading or at > last_text else "\\\n", "raw"))
            at_line_start = True
            continue
        # A link the policy refuses is no link at all: its text stays, as plain text.
        marks = {
            m
            for m in node.marks
            if m.kind != tree.CODE and (m.kind != tree.LINK or safe_link(m.href))
        }
        keep = 0
        while keep < len(stack) and stack[keep][0] in marks:
            keep += 1
        close_to(keep)
        for mark in sorted(marks - {m for m, _ in stack}, key=lambda m: m.rank):
            stack.append((mark, len(toks)))
            if mark.kind == tree.LINK:
                toks.append(_Tok("[", "raw"))
            else:
                toks.append(_Tok("", "open", mark.kind, color=mark.color))
        if node.has(tree.CODE):
            toks.append(_Tok(_code_span(node.text), "raw"))
        else:
            toks.append(_Tok(_escape(node.text, at_line_start, heading)))
        at_line_start = False
    close_to(0)
    return toks


def _choose_delimiters(toks: list[_Tok]) -> None:
    """Switch a mark to its HTML form when its delimiters would not be recognised."""
    changed = True
    while changed:
        changed = False
        for i, tok in enumerate(toks):
            if tok.kind != "open" or tok.html:
                continue
            close = toks[tok.pair]
            if tok.mark not in _DELIMS or not (_can_open(toks, i) and _can_close(toks, tok.pair)):
                tok.html = close.html = True
                changed = True


def _edge_char(toks: list[_Tok], i: int, step: int) -> str:
    """The character next to token i in direction step ('' = line edge)."""
    i += step
    while 0 <= i < len(toks):
        tok = toks[i]
        if tok.kind in ("open", "close"):
            if tok.html:
                return "<" if step > 0 else ">"
            if tok.mark in _DELIMS:
                return _DELIMS[tok.mark][0]
        elif tok.text:
            return tok.text[0] if step > 0 else tok.text[-1]
        i += step
    return ""


def _can_open(toks: list[_Tok], i: int) -> bool:
    before, after = _edge_char(toks, i, -1), _edge_char(toks, i, 1)
    if before in ("*", "~"):
        return False  # would merge with a neighbouring delimiter run
    return _left_flanking(before, after)


def _can_close(toks: list[_Tok], i: int) -> bool:
    before, after = _edge_char(toks, i, -1), _edge_char(toks, i, 1)
    if after in ("*", "~") and not (toks[i + 1].kind == "close" and not toks[i + 1].html):
        return False
    return _left_flanking(after, before)  # right-flanking is the mirror image


def _left_flanking(before: str, after: str) -> bool:
    if not after or after.isspace() or after == "\n":
        return False
    if not _is_punct(after):
        return True
    return not before or before.isspace() or _is_punct(before)


def _is_punct(ch: str) -> bool:
    return unicodedata.category(ch).startswith(("P", "S"))


def _escape(text: str, at_line_start: bool, heading: bool) -> str:
    text = _ALWAYS_ESCAPE.sub(r"\\\1", text)
    text = _ENTITY_LIKE.sub("&amp;", text)
    if text.endswith("!"):  # "![" would start an image if a link follows
        text = text[:-1] + "\\!"
    if heading:
        text = text.replace("#", "\\#")
    elif at_line_start:
        text = _LINE_START.sub(
            lambda m: m.group(0) + "\\" if m.group(0)[0].isdigit() else "\\" + m.group(0),
            text,
            count=1,
        )
    return text


def _code_span(text: str) -> str:
    longest = max((len(r) for r in re.findall(r"`+", text)), default=0)
    ticks = "`" * (longest + 1)
    # One space is stripped from each side unless the content is all spaces.
    if text.strip(" ") and (text.startswith(("`", " ")) or text.endswith(("`", " "))):
        text = f" {text} "
    return f"{ticks}{text}{ticks}"


def _protect_line_edges(text: str) -> str:
    """Leading/trailing spaces of a line are stripped by parsers: write them as entities."""
    lines = text.split("\n")
    for n, line in enumerate(lines):
        end = "\\" if line.endswith("\\") and n < len(lines) - 1 else ""
        body = line[: -len(end)] if end else line
        stripped = body.lstrip(" \t")
        lead = body[: len(body) - len(stripped)]
        core = stripped.rstrip(" \t")
        trail = stripped[len(core) :]
        lines[n] = _entities(lead) + core + _entities(trail) + end
    return "\n".join(lines)


def _entities(spaces: str) -> str:
    return "".join("&#32;" if c == " " else "&#9;" for c in spaces)


def _render(docs: list[tree.Document], options: ExportOptions) -> bytes:
    return render_markdown(docs).encode("utf-8")


FORMAT = ExportFormat("md", "text/markdown; charset=utf-8", ".md", _render)
