"""The text of open rooms, kept while their document stays put (see ``RoomTexts``)."""

from __future__ import annotations

import weakref
from collections import OrderedDict
from typing import TYPE_CHECKING

from draftroom.document.text import DocumentText, read_text

if TYPE_CHECKING:
    from draftroom.crdt.room import Room


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
