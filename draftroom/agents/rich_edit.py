"""Replacing a selection of the agents' text inside a TipTap (y-prosemirror) document.

Agents read rich text flattened to lines (document/text.py), and their selections are
offsets into that text. To write a rewrite back, the selection has to be found in the
XML tree again. This walks the fragment in the order the reader flattens it, keeping
for every character of each text block the XmlText node and byte offset it came from,
and checks that the result equals the flattened text exactly before anything is
touched. A selection inside one text node is then replaced in place, keeping the
formatting of its first character (a bold word rewritten stays bold).

What it cannot map with certainty it refuses, and the caller answers
``edit_unsupported``: selections across paragraphs or hard breaks, inline nodes
other than hard breaks (images, mentions), text outside any block.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pycrdt import XmlElement, XmlFragment, XmlText

from draftroom.document.text import DocumentText

_TEXT_BLOCKS = {"paragraph", "heading", "codeBlock"}
_LEAVES = {"horizontalRule", "image"}  # blocks with no text lines
_INLINE = {"hardBreak", "text"}
_NEWLINES = re.compile(r"\s*\n\s*")


@dataclass(frozen=True, slots=True)
class _Origin:
    node: XmlText
    offset: int  # in UTF-8 bytes, as pycrdt indexes text
    attrs: dict[str, Any] | None


# One per character of the flattened text; None for a character no text node holds
# (a hard break, or the line break between two blocks).
Origins = list[_Origin | None]


def replace_selection(
    fragment: XmlFragment, document: DocumentText, start: int, end: int, text: str
) -> bool:
    """Replace ``document.text[start:end]`` with ``text`` in ``fragment`` (inside a
    transaction); False, with nothing changed, when it cannot be done exactly."""
    origins: Origins = []
    flattened: list[str] = []
    if not _walk(fragment.children, flattened, origins):
        return False
    if "\n".join(flattened) != document.text:
        return False  # the walk and the reader disagree: do not guess
    if not 0 <= start < end <= len(origins):
        return False
    selected = origins[start:end]
    first = selected[0]
    if first is None or any(o is None or o.node is not first.node for o in selected):
        return False
    last = selected[-1]
    assert last is not None
    stop = last.offset + len(document.text[end - 1].encode())
    before = origins[start - 1] if start > 0 else None
    attrs = dict(first.attrs or {})
    if before is not None and before.node is first.node:
        # Yjs inserts take the formatting before them: cancel what the run lacks.
        attrs.update({k: None for k in before.attrs or {} if k not in attrs})
    node = first.node
    del node[first.offset : stop]
    node.insert(first.offset, _NEWLINES.sub(" ", text.strip()), attrs or None)
    return True


def _walk(nodes: Iterable[Any], flattened: list[str], origins: Origins) -> bool:
    for node in nodes:
        if isinstance(node, XmlText):
            return False  # loose text where blocks belong
        if not isinstance(node, XmlElement):
            continue
        tag = node.tag or ""
        if tag in _TEXT_BLOCKS:
            if not _block(node, tag, flattened, origins):
                return False
        elif tag in _LEAVES:
            continue
        elif tag in _INLINE or not any(isinstance(c, XmlElement) for c in node.children):
            return False  # inline content the reader would fold into a paragraph
        elif not _walk(node.children, flattened, origins):  # lists, quotes, wrappers
            return False
    return True


def _block(node: XmlElement, tag: str, flattened: list[str], origins: Origins) -> bool:
    if flattened:
        origins.append(None)  # the line break before this block
    chars: list[str] = []
    for child in node.children:
        if isinstance(child, XmlText):
            offset = 0
            for insert, attrs in child.diff():
                if not isinstance(insert, str):
                    return False  # an embed
                for char in insert:
                    chars.append(char)
                    origins.append(_Origin(child, offset, attrs))
                    offset += len(char.encode())
        elif isinstance(child, XmlElement) and child.tag == "hardBreak" and tag != "codeBlock":
            chars.append(" " if tag == "heading" else "\n")  # as document/text.py reads it
            origins.append(None)
        else:
            return False
    text = "".join(chars)
    if tag == "heading" and "\n" in text:
        return False
    flattened.append(text)
    return True
