"""One editing session (a WebSocket connection to a document) as analytics sees it:
opened, ended, words added, by the user the socket was admitted as.

Words are counted without reading any text: a Yjs client's clock (in the state
vector) advances by one per inserted character, so characters added in a session
are the clock gains of the session's client ids (known from its awareness
messages). Words are estimated as characters / 6 (mean English word plus a
space). Cost: one state-vector read at join and one at leave, nothing per keystroke.
"""

from __future__ import annotations

import time

from draftroom.analytics.recorder import Analytics
from draftroom.crdt.room import Peer, Room

CHARS_PER_WORD = 6.0


def decode_state_vector(raw: bytes) -> dict[int, int]:
    """Yjs v1 state vector: varint count, then (client, clock) varint pairs."""
    values: list[int] = []
    value = shift = 0
    for byte in raw:
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            values.append(value)
            value = shift = 0
    count = values[0] if values else 0
    return {values[1 + 2 * i]: values[2 + 2 * i] for i in range(count)}


class EditingSession:
    """``user`` is the opaque id the socket was admitted as ("anonymous" only when
    anonymous access let it in); with ``analytics`` None nothing is recorded."""

    def __init__(self, analytics: Analytics | None, user: str, room: Room) -> None:
        self.analytics = analytics
        self.user = user
        doc_id = self.doc_id = room.doc_id
        self.room = room
        self.started = time.monotonic()
        self.clocks = decode_state_vector(room.doc.get_state()) if self.analytics else {}
        if self.analytics is not None:
            self.analytics.record("session.started", self.user, doc_id)
            self.analytics.record("document.opened", self.user, doc_id)

    def end(self, peer: Peer) -> None:
        if self.analytics is None:
            return
        chars = 0
        if peer.awareness_ids:
            now = decode_state_vector(self.room.doc.get_state())
            chars = sum(now.get(c, 0) - self.clocks.get(c, 0) for c in peer.awareness_ids)
        self.analytics.record(
            "session.ended", self.user, self.doc_id, value=round(max(chars, 0) / CHARS_PER_WORD)
        )
