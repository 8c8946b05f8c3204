"""Build pycrdt documents the way y-prosemirror / TipTap write them.

A block is ``el(tag, attrs, *children)``; text is ``txt("plain", ("bold", {"bold": {}}))``:
each XmlText holds runs whose formatting attributes are the ProseMirror marks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pycrdt import Doc, Text, XmlElement, XmlFragment, XmlText

B: dict[str, Any] = {"bold": {}}
I: dict[str, Any] = {"italic": {}}  # noqa: E741 - mirrors B, U, S, C
U: dict[str, Any] = {"underline": {}}
S: dict[str, Any] = {"strike": {}}
C: dict[str, Any] = {"code": {}}


def link(href: str, **more: Any) -> dict[str, Any]:
    return {"link": {"href": href, "target": "_blank"}, **more}


@dataclass
class El:
    tag: str
    attrs: dict[str, Any] = field(default_factory=dict)
    children: list[El | Txt] = field(default_factory=list)


@dataclass
class Txt:
    runs: list[tuple[str, dict[str, Any] | None]]


def el(tag: str, attrs: dict[str, Any] | None = None, *children: El | Txt | str) -> El:
    kids = [txt(c) if isinstance(c, str) else c for c in children]
    return El(tag, dict(attrs or {}), kids)


def txt(*runs: str | tuple[str, dict[str, Any] | None]) -> Txt:
    return Txt([(r, None) if isinstance(r, str) else r for r in runs])


def p(*runs: str | tuple[str, dict[str, Any] | None] | El) -> El:
    """A paragraph; El arguments (hardBreak, inline nodes) split the text."""
    children: list[El | Txt] = []
    pending: list[str | tuple[str, dict[str, Any] | None]] = []
    for r in runs:
        if isinstance(r, El):
            if pending:
                children.append(txt(*pending))
                pending = []
            children.append(r)
        else:
            pending.append(r)
    if pending:
        children.append(txt(*pending))
    return El("paragraph", {}, children)


def h(level: int, *runs: str | tuple[str, dict[str, Any] | None]) -> El:
    return El("heading", {"level": level}, [txt(*runs)])


def ul(*items: El) -> El:
    return El("bulletList", {}, list(items))


def ol(start: int, *items: El) -> El:
    return El("orderedList", {"start": start}, list(items))


def li(*blocks: El | str) -> El:
    return El("listItem", {}, [p(b) if isinstance(b, str) else b for b in blocks])


def make_doc(*blocks: El, name: str = "default") -> Doc:
    doc = Doc()
    fragment = doc.get(name, type=XmlFragment)
    with doc.transaction():
        for block in blocks:
            _add(fragment, block)
    return doc


def plain_doc(text: str) -> Doc:
    doc = Doc()
    doc.get("text", type=Text).insert(0, text)
    return doc


def _add(parent: XmlFragment | XmlElement, node: El | Txt) -> None:
    if isinstance(node, Txt):
        text = XmlText()
        parent.children.append(text)
        pos = 0
        for chunk, attrs in node.runs:
            text.insert(pos, chunk, attrs)
            # pycrdt 0.14 XmlText indexes are UTF-8 byte offsets (Text uses code points).
            pos += len(chunk.encode("utf-8"))
        return
    element = XmlElement(node.tag)
    parent.children.append(element)
    for key, value in node.attrs.items():
        element.attributes[key] = value
    for child in node.children:
        _add(element, child)
