"""Read a pycrdt document written by y-prosemirror / TipTap (or a plain Y.Text) into the tree.

The tree (``tree.py``) is what exports render and what agents flatten to lines.
Everything read is cleaned here, once, for every format (``clean.py``): text loses
XML-illegal characters, titles are cleaned as names. Attribute values typed by no
one but a client (colours, sizes, spans) are checked here too, so writers can put
them into XML and CSS as they are: a colour is ``#rrggbb`` or absent.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from pycrdt import Doc, Text, XmlElement, XmlText

from draftroom.document import tree
from draftroom.document.clean import clean_name, clean_text
from draftroom.document.schema import PLAIN_TEXT_NAME, rich_fragment

_SIMPLE_MARKS = {"bold", "italic", "underline", "strike", "code", tree.SUBSCRIPT, tree.SUPERSCRIPT}
_MARK_ALIASES = {
    "strong": "bold",
    "em": "italic",
    "s": "strike",
    "strikethrough": "strike",
    "sub": tree.SUBSCRIPT,
    "sup": tree.SUPERSCRIPT,
}
# A hostile colspan of a billion would make a writer build a billion-column grid.
MAX_SPAN = 64
MAX_IMAGE_PX = 20_000


def read_update(state: bytes, title: str) -> tree.Document:
    """Build a Document from an encoded Yjs update (a stored document state)."""
    doc: Doc = Doc()
    if state:
        doc.apply_update(state)
    return read_document(doc, title)


def read_document(doc: Doc, title: str) -> tree.Document:
    title = clean_name(title)
    fragment = rich_fragment(doc)
    if fragment is not None:
        return tree.Document(title, _read_blocks(fragment.children))
    text = str(doc.get(PLAIN_TEXT_NAME, type=Text))
    return tree.Document(title, _plain_paragraphs(text))


def _plain_paragraphs(text: str) -> list[tree.Block]:
    if not text:
        return []
    text = clean_text(text)
    return [tree.Paragraph(tree.merge_runs([tree.Text(line)])) for line in text.split("\n")]


def _read_blocks(nodes: Iterable[Any]) -> list[tree.Block]:
    blocks: list[tree.Block] = []
    loose: list[tree.Inline] = []  # inline content found where a block was expected

    def flush() -> None:
        if loose:
            blocks.append(tree.Paragraph(tree.merge_runs(loose)))
            loose.clear()

    for node in nodes:
        if isinstance(node, XmlText):
            loose.extend(_read_text(node))
            continue
        if not isinstance(node, XmlElement):
            continue
        tag = node.tag or ""
        if tag in ("hardBreak", "text") or (tag not in _KNOWN_BLOCKS and _is_inline(node)):
            loose.extend(_read_inlines([node]))
            continue
        flush()
        blocks.extend(_read_block(node, tag))
    flush()
    return blocks


def _is_inline(node: XmlElement) -> bool:
    return all(
        isinstance(c, XmlText) or (getattr(c, "tag", None) or "") == "hardBreak"
        for c in node.children
    )


def _read_block(node: XmlElement, tag: str) -> list[tree.Block]:
    attrs = _attrs(node)
    if tag == "paragraph":
        return [tree.Paragraph(_read_inlines(node.children), _align(attrs), _dir(attrs))]
    if tag == "heading":
        level = min(max(_int(attrs.get("level"), 1), 1), 6)
        return [tree.Heading(level, _read_inlines(node.children), _align(attrs), _dir(attrs))]
    if tag == "blockquote":
        return [tree.Blockquote(_read_blocks(node.children))]
    if tag == "taskList":
        return [
            tree.TaskList(
                [
                    tree.TaskItem(_bool(_attrs(c).get("checked")), _read_blocks(c.children))
                    for c in _elements(node.children)
                ]
            )
        ]
    if tag in ("bulletList", "orderedList"):
        items = [tree.ListItem(_read_blocks(c.children)) for c in _elements(node.children)]
        if tag == "orderedList":
            return [tree.OrderedList(max(_int(attrs.get("start"), 1), 0), items)]
        return [tree.BulletList(items)]
    if tag == "table":
        return _table(node)
    if tag == "codeBlock":
        text = clean_text("".join(str(c) for c in node.children if isinstance(c, XmlText)))
        language = clean_text(str(attrs.get("language") or ""))
        return [tree.CodeBlock(text, language or None)]
    if tag == "horizontalRule":
        return [tree.HorizontalRule()]
    if tag == "image":
        return [_image(attrs)]
    # Unknown block: keep its content (a wrapper) or at least its text.
    return _read_blocks(node.children)


_KNOWN_BLOCKS = {
    "paragraph",
    "heading",
    "blockquote",
    "bulletList",
    "orderedList",
    "taskList",
    "codeBlock",
    "horizontalRule",
    "image",
    "listItem",
    "taskItem",
    "table",
    "tableRow",
    "tableCell",
    "tableHeader",
}


def _table(node: XmlElement) -> list[tree.Block]:
    rows: list[tree.TableRow] = []
    for row in _elements(node.children):
        cells = []
        for cell in _elements(row.children):
            attrs = _attrs(cell)
            cells.append(
                tree.TableCell(
                    _read_blocks(cell.children),
                    header=cell.tag == "tableHeader",
                    colspan=min(max(_int(attrs.get("colspan"), 1), 1), MAX_SPAN),
                    rowspan=min(max(_int(attrs.get("rowspan"), 1), 1), MAX_SPAN),
                )
            )
        if cells:
            rows.append(tree.TableRow(cells))
    return [tree.Table(rows)] if rows else []


def _image(attrs: Mapping[str, Any]) -> tree.Image:
    return tree.Image(
        src=clean_text(str(attrs.get("src") or "")),
        alt=clean_text(str(attrs.get("alt") or "")),
        title=clean_text(str(attrs.get("title") or "")),
        width=_pixels(attrs.get("width")),
        height=_pixels(attrs.get("height")),
    )


def _pixels(value: Any) -> int | None:
    """A size in CSS pixels (``300``, ``300.0``, ``"300px"``); None if unusable."""
    if isinstance(value, str):
        value = value.strip().removesuffix("px")
    size = _int(value, 0)
    return size if 0 < size <= MAX_IMAGE_PX else None


def _align(attrs: Mapping[str, Any]) -> str | None:
    value = attrs.get("textAlign")
    return value if value in tree.ALIGNMENTS else None


def _dir(attrs: Mapping[str, Any]) -> str | None:
    value = attrs.get("dir")
    return value if value in tree.DIRECTIONS else None  # "auto" and unknown: from the text


def _bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes", "checked")
    return bool(value) if isinstance(value, bool | int | float) else False


def _read_inlines(nodes: Iterable[Any]) -> list[tree.Inline]:
    out: list[tree.Inline] = []
    for node in nodes:
        if isinstance(node, XmlText):
            out.extend(_read_text(node))
        elif isinstance(node, XmlElement):
            tag = node.tag or ""
            if tag == "hardBreak":
                out.append(tree.HardBreak())
            elif tag == "image":
                # An inline image has no place in a run of text: keep its alt text.
                alt = clean_text(str(_attrs(node).get("alt") or ""))
                if alt:
                    out.append(tree.Text(alt))
            else:
                out.extend(_read_inlines(node.children))
    return tree.merge_runs(out)


def _read_text(node: XmlText) -> list[tree.Inline]:
    out: list[tree.Inline] = []
    for insert, attrs in node.diff():
        if not isinstance(insert, str):
            continue  # embeds carry no text
        marks = _marks(attrs)
        parts = clean_text(insert).split("\n")
        for i, part in enumerate(parts):
            if i:
                out.append(tree.HardBreak())
            out.append(tree.Text(part, marks))
    return out


def _marks(attrs: Mapping[str, Any] | None) -> frozenset[tree.Mark]:
    if not attrs:
        return frozenset()
    marks: set[tree.Mark] = set()
    for name, value in attrs.items():
        kind = _MARK_ALIASES.get(name, name)
        if kind in _SIMPLE_MARKS:
            marks.add(tree.Mark(kind))
        elif kind == "link":
            href = value.get("href") if isinstance(value, Mapping) else None
            if href:
                marks.add(tree.Mark("link", str(href)))
        elif kind == tree.HIGHLIGHT:
            # Without a colour (TipTap's single-colour highlight) writers use yellow.
            marks.add(tree.Mark(tree.HIGHLIGHT, color=_color(value)))
        elif kind == tree.TEXT_COLOR:
            # textStyle also carries font family and size, which exports leave to
            # the theme; only a colour makes it a mark worth keeping.
            color = _color(value)
            if color:
                marks.add(tree.Mark(tree.TEXT_COLOR, color=color))
        # Anything else (comment--…, fontFamily…) is dropped, text kept.
    if any(m.kind == tree.CODE for m in marks):
        # ProseMirror's code mark excludes the other formatting marks but links.
        marks = {m for m in marks if m.kind in (tree.CODE, "link")}
    if any(m.kind == tree.SUBSCRIPT for m in marks) and any(
        m.kind == tree.SUPERSCRIPT for m in marks
    ):
        # TipTap's two marks exclude each other; no format can show both at once.
        marks = {m for m in marks if m.kind != tree.SUBSCRIPT}
    return frozenset(marks)


_HEX = re.compile(r"#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})")
_RGB = re.compile(r"rgba?\(\s*(\d{1,3})\s*,\s*(\d{1,3})\s*,\s*(\d{1,3})\s*(?:,[^)]*)?\)")
# The colours TipTap's menus and pasted HTML commonly name; others become "no colour".
_NAMED = {
    "black": "#000000",
    "white": "#ffffff",
    "red": "#ff0000",
    "green": "#008000",
    "blue": "#0000ff",
    "yellow": "#ffff00",
    "orange": "#ffa500",
    "purple": "#800080",
    "gray": "#808080",
    "grey": "#808080",
    "pink": "#ffc0cb",
    "cyan": "#00ffff",
    "magenta": "#ff00ff",
    "lime": "#00ff00",
    "navy": "#000080",
    "teal": "#008080",
    "maroon": "#800000",
    "olive": "#808000",
    "silver": "#c0c0c0",
    "aqua": "#00ffff",
    "fuchsia": "#ff00ff",
}


def _color(value: Any) -> str | None:
    """A mark's ``color`` attribute as ``#rrggbb`` (lower case), or None."""
    raw = value.get("color") if isinstance(value, Mapping) else None
    if not isinstance(raw, str):
        return None
    raw = raw.strip().lower()
    if match := _HEX.fullmatch(raw):
        digits = match.group(1)
        if len(digits) == 3:
            digits = "".join(c * 2 for c in digits)
        return "#" + digits
    if match := _RGB.fullmatch(raw):
        channels = [min(int(c), 255) for c in match.groups()]
        return "#" + "".join(f"{c:02x}" for c in channels)
    return _NAMED.get(raw)


def _attrs(node: XmlElement) -> dict[str, Any]:
    try:
        # The view iterates as (key, value) pairs but types __iter__ as an Iterable.
        pairs: Iterator[tuple[str, Any]] = node.attributes.__iter__()  # type: ignore[assignment]
        return dict(pairs)
    except Exception:  # a malformed attribute map must not break an export
        return {}


def _elements(nodes: Iterable[Any]) -> list[XmlElement]:
    return [n for n in nodes if isinstance(n, XmlElement)]


def _int(value: Any, default: int) -> int:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return default
