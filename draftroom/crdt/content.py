"""The readable text of a document, for the content API.

Editors store text in one of two shapes: TipTap/y-prosemirror write an
XmlFragment named ``default``; plain-text bindings write a Text named ``text``.
"""

from __future__ import annotations

from pycrdt import Doc, Text, XmlElement, XmlFragment, XmlText


def _inline_text(node: XmlText) -> str:
    return "".join(part for part, _ in node.diff())


def _blocks(node: XmlElement | XmlFragment, out: list[str]) -> None:
    """One line per innermost block (paragraph, heading, list item's paragraph)."""
    children = list(node.children)
    if all(isinstance(c, XmlText) for c in children):
        out.append("".join(_inline_text(c) for c in children))  # type: ignore[arg-type]
        return
    for child in children:
        if isinstance(child, XmlText):
            out.append(_inline_text(child))
        else:
            _blocks(child, out)


def document_text(doc: Doc) -> dict[str, str]:
    """``{"text": ..., "prosemirror": ...}`` for whichever roots the document has."""
    result: dict[str, str] = {}
    names = set(doc.keys())
    if "text" in names:
        try:
            result["text"] = str(doc.get("text", type=Text))
        except Exception:  # the root exists with another type; nothing to show
            pass
    if "default" in names:
        try:
            blocks: list[str] = []
            _blocks(doc.get("default", type=XmlFragment), blocks)
            result["prosemirror"] = "\n".join(blocks)
        except Exception:
            pass
    return result
