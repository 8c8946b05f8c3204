"""A document as text: the lines agents read, and the content API's answer.

Rich-text documents (a TipTap/y-prosemirror XmlFragment) are flattened through the
reader, so headings keep their level for the outline agent; a plain Y.Text is
taken as is. Offsets are Python character offsets into ``DocumentText.text``,
which is what clients that underline use alongside the paragraph index.

``content`` is what ``GET /api/documents/{id}/content`` returns: the rich root as
ProseMirror JSON, or the plain text. Both choose their root with
``schema.rich_fragment``, as the exporter does, so all three describe the same
document.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pycrdt import Doc, Text

from draftroom.document.prosemirror import to_prosemirror
from draftroom.document.reader import read_document
from draftroom.document.schema import PLAIN_TEXT_NAME, rich_fragment
from draftroom.document.tree import (
    Block,
    CodeBlock,
    Heading,
    Paragraph,
    children_of,
    inline_text,
)


@dataclass(frozen=True, slots=True)
class Line:
    """One line of the flattened text: a paragraph or a heading."""

    index: int
    start: int  # offset of its first character in DocumentText.text
    end: int  # offset just past its last character
    heading_level: int  # 0 for body text


@dataclass(frozen=True, slots=True)
class DocumentText:
    text: str
    lines: tuple[Line, ...]
    rich: bool  # read from an XmlFragment (edits go in as paragraphs)

    def line_text(self, line: Line) -> str:
        return self.text[line.start : line.end]


def from_lines(lines: Iterable[tuple[str, int]], rich: bool) -> DocumentText:
    """Build from (line, heading level) pairs; lines are joined with newlines."""
    parts: list[str] = []
    found: list[Line] = []
    pos = 0
    for index, (line, level) in enumerate(lines):
        found.append(Line(index, pos, pos + len(line), level))
        parts.append(line)
        pos += len(line) + 1
    return DocumentText("\n".join(parts), tuple(found), rich)


def _plain_lines(text: str) -> list[tuple[str, int]]:
    return [(line, 0) for line in text.split("\n")] if text else []


def from_plain(text: str) -> DocumentText:
    return from_lines(_plain_lines(text), rich=False)


def read_text(doc: Doc) -> DocumentText:
    """Flatten a pycrdt document. Call on the event loop thread (pycrdt is not shared)."""
    if rich_fragment(doc) is None:
        return from_plain(str(doc.get(PLAIN_TEXT_NAME, type=Text)))
    return from_lines(_lines(read_document(doc, "").blocks), rich=True)


def text_lines(doc: Doc) -> Iterable[tuple[str, int]]:
    """``read_text``'s (line, heading level) pairs without the text joined again and a
    ``Line`` per line: the search indexer reads every busy document this way."""
    if rich_fragment(doc) is None:
        return _plain_lines(str(doc.get(PLAIN_TEXT_NAME, type=Text)))
    return list(_lines(read_document(doc, "").blocks))


def content(doc: Doc) -> dict[str, Any]:
    """``{"prosemirror": <ProseMirror JSON>}`` for a rich document, else ``{"text": ...}``."""
    fragment = rich_fragment(doc)
    if fragment is not None:
        return {"prosemirror": to_prosemirror(fragment)}
    return {"text": str(doc.get(PLAIN_TEXT_NAME, type=Text))}


def _lines(blocks: Iterable[Block]) -> Iterable[tuple[str, int]]:
    for block in blocks:
        if isinstance(block, Heading):
            # A hard break inside a heading would split it: keep headings on one line.
            yield inline_text(block.children).replace("\n", " "), block.level
        elif isinstance(block, Paragraph):
            yield from ((line, 0) for line in inline_text(block.children).split("\n"))
        elif isinstance(block, CodeBlock):
            yield from ((line, 0) for line in block.text.split("\n"))
        else:  # quotes, lists, task lists and table cells, in reading order
            for nested in children_of(block):
                yield from _lines(nested)
