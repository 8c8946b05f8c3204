"""Read a pycrdt document written by y-prosemirror / TipTap (or a plain Y.Text) into the tree.

The tree (``tree.py``) is what exports render and what agents flatten to lines.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from pycrdt import Doc, Text, XmlElement, XmlText

from draftroom.document.schema import PLAIN_TEXT_NAME, rich_fragment
from draftroom.document.tree import (
    CODE,
    Block,
    Blockquote,
    BulletList,
    CodeBlock,
    Document,
    HardBreak,
    Heading,
    HorizontalRule,
    Image,
    Inline,
    ListItem,
    Mark,
    OrderedList,
    Paragraph,
    merge_runs,
)
from draftroom.document.tree import Text as TextRun

_SIMPLE_MARKS = {"bold", "italic", "underline", "strike", "code"}
_MARK_ALIASES = {"strong": "bold", "em": "italic", "s": "strike", "strikethrough": "strike"}
_BLOCK_CONTAINERS = {"blockquote", "bulletList", "orderedList", "listItem", "doc"}


def read_update(state: bytes, title: str) -> Document:
    """Build a Document from an encoded Yjs update (a stored document state)."""
    doc: Doc = Doc()
    if state:
        doc.apply_update(state)
    return read_document(doc, title)


def read_document(doc: Doc, title: str) -> Document:
    fragment = rich_fragment(doc)
    if fragment is not None:
        return Document(title, _read_blocks(fragment.children))
    text = str(doc.get(PLAIN_TEXT_NAME, type=Text))
    return Document(title, _plain_paragraphs(text))


def _plain_paragraphs(text: str) -> list[Block]:
    if not text:
        return []
    return [Paragraph(merge_runs([TextRun(line)])) for line in text.split("\n")]


def _read_blocks(nodes: Iterable[Any]) -> list[Block]:
    blocks: list[Block] = []
    loose: list[Inline] = []  # inline content found where a block was expected

    def flush() -> None:
        if loose:
            blocks.append(Paragraph(merge_runs(loose)))
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


def _read_block(node: XmlElement, tag: str) -> list[Block]:
    attrs = _attrs(node)
    if tag == "paragraph":
        return [Paragraph(_read_inlines(node.children))]
    if tag == "heading":
        level = min(max(_int(attrs.get("level"), 1), 1), 6)
        return [Heading(level, _read_inlines(node.children))]
    if tag == "blockquote":
        return [Blockquote(_read_blocks(node.children))]
    if tag in ("bulletList", "orderedList", "taskList"):
        items = [ListItem(_read_blocks(c.children)) for c in _elements(node.children)]
        if tag == "orderedList":
            return [OrderedList(max(_int(attrs.get("start"), 1), 0), items)]
        return [BulletList(items)]
    if tag == "codeBlock":
        text = "".join(str(c) for c in node.children if isinstance(c, XmlText))
        language = attrs.get("language")
        return [CodeBlock(text, str(language) if language else None)]
    if tag == "horizontalRule":
        return [HorizontalRule()]
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
}


def _image(attrs: Mapping[str, Any]) -> Image:
    return Image(
        src=str(attrs.get("src") or ""),
        alt=str(attrs.get("alt") or ""),
        title=str(attrs.get("title") or ""),
    )


def _read_inlines(nodes: Iterable[Any]) -> list[Inline]:
    out: list[Inline] = []
    for node in nodes:
        if isinstance(node, XmlText):
            out.extend(_read_text(node))
        elif isinstance(node, XmlElement):
            tag = node.tag or ""
            if tag == "hardBreak":
                out.append(HardBreak())
            elif tag == "image":
                # An inline image has no place in a run of text: keep its alt text.
                alt = _attrs(node).get("alt")
                if alt:
                    out.append(TextRun(str(alt)))
            else:
                out.extend(_read_inlines(node.children))
    return merge_runs(out)


def _read_text(node: XmlText) -> list[Inline]:
    out: list[Inline] = []
    for insert, attrs in node.diff():
        if not isinstance(insert, str):
            continue  # embeds carry no text
        marks = _marks(attrs)
        parts = insert.split("\n")
        for i, part in enumerate(parts):
            if i:
                out.append(HardBreak())
            out.append(TextRun(part, marks))
    return out


def _marks(attrs: Mapping[str, Any] | None) -> frozenset[Mark]:
    if not attrs:
        return frozenset()
    marks: set[Mark] = set()
    for name, value in attrs.items():
        kind = _MARK_ALIASES.get(name, name)
        if kind in _SIMPLE_MARKS:
            marks.add(Mark(kind))
        elif kind == "link":
            href = value.get("href") if isinstance(value, Mapping) else None
            if href:
                marks.add(Mark("link", str(href)))
        # Anything else (comment--…, highlight, textStyle) is dropped, text kept.
    if any(m.kind == CODE for m in marks):
        # ProseMirror's code mark excludes the other formatting marks but links.
        marks = {m for m in marks if m.kind in (CODE, "link")}
    return frozenset(marks)


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
