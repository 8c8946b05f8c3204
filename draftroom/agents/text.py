"""A document as agents see it: plain text, one block per line, with offsets.

Rich-text documents (TipTap's XmlFragment "default") are flattened through the export
reader, so headings keep their level for the outline agent; a plain Y.Text "text" is
taken as is. Offsets are Python character offsets into ``DocumentText.text``, which is
what clients that underline use alongside the paragraph index.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pycrdt import Doc, Text, XmlFragment

from draftroom.export.reader import FRAGMENT_NAMES, PLAIN_TEXT_NAME, read_document

if TYPE_CHECKING:
    from draftroom.crdt.room import Room

from draftroom.export.tree import (
    Block,
    Blockquote,
    BulletList,
    CodeBlock,
    Heading,
    OrderedList,
    Paragraph,
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


def from_plain(text: str) -> DocumentText:
    return from_lines(((line, 0) for line in text.split("\n")) if text else (), rich=False)


def read_text(doc: Doc) -> DocumentText:
    """Flatten a pycrdt document. Call on the event loop thread (pycrdt is not shared)."""
    rich = any(len(doc.get(name, type=XmlFragment).children) for name in FRAGMENT_NAMES)
    if not rich:
        return from_plain(str(doc.get(PLAIN_TEXT_NAME, type=Text)))
    return from_lines(_lines(read_document(doc, "").blocks), rich=True)


class RoomTexts:
    """The text of open rooms, kept while their document stays put.

    Flattening a 100,000-word TipTap document takes 12-50 ms on the event loop; every
    question about it, and every warm pass, would pay that again. A room bumps
    ``changes`` as soon as an edit is applied (before it commits), so a kept text is
    never older than the document. At most ``max_chars`` of text are kept.
    """

    def __init__(self, max_chars: int = 16_000_000) -> None:
        self.max_chars = max_chars
        # A weak reference: a kept text must not keep an evicted room's doc alive.
        self._kept: OrderedDict[str, tuple[weakref.ref[Room], int, DocumentText]] = OrderedDict()
        self._chars = 0
        self.reads = 0  # flattenings actually done (for tests)

    def of(self, room: Room) -> DocumentText:
        kept = self._kept.get(room.doc_id)
        if kept is not None and kept[0]() is room and kept[1] == room.changes:
            self._kept.move_to_end(room.doc_id)
            return kept[2]
        self.reads += 1
        document = read_text(room.doc)
        self._forget(room.doc_id)
        self._kept[room.doc_id] = (weakref.ref(room), room.changes, document)
        self._chars += len(document.text)
        while self._chars > self.max_chars and self._kept:
            self._forget(next(iter(self._kept)))
        return document

    def _forget(self, doc_id: str) -> None:
        kept = self._kept.pop(doc_id, None)
        if kept is not None:
            self._chars -= len(kept[2].text)


def _lines(blocks: Iterable[Block]) -> Iterable[tuple[str, int]]:
    for block in blocks:
        if isinstance(block, Heading):
            # A hard break inside a heading would split it: keep headings on one line.
            yield inline_text(block.children).replace("\n", " "), block.level
        elif isinstance(block, Paragraph):
            yield from ((line, 0) for line in inline_text(block.children).split("\n"))
        elif isinstance(block, Blockquote):
            yield from _lines(block.children)
        elif isinstance(block, BulletList | OrderedList):
            for item in block.items:
                yield from _lines(item.children)
        elif isinstance(block, CodeBlock):
            yield from ((line, 0) for line in block.text.split("\n"))
