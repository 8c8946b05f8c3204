"""The bus: how nodes tell each other about edits, presence and app messages.

Every message is an ``Envelope``; on the wire (Redis) it is a msgpack map. A node
publishes each committed update once, with its sequence number, and ignores its
own messages. Delivery is best effort: receivers repair gaps from the store.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgpack

UPDATE = "update"
AWARENESS = "awareness"
APP = "app"
CONTROL = "control"
# "Who is here?": a node that just opened a room asks the others for their
# clients' presence, which they answer with an AWARENESS message.
PRESENCE_QUERY = "presence?"


@dataclass(frozen=True, slots=True)
class Envelope:
    origin: str  # node id
    doc: str  # document id ("" for node-wide control messages)
    kind: str  # UPDATE, AWARENESS, APP or CONTROL
    payload: Any  # bytes for updates and awareness; a map for app and control
    seq: int = 0  # the update's persisted sequence number
    trace: dict[str, str] = field(default_factory=dict)  # W3C trace context

    def pack(self) -> bytes:
        data: dict[str, Any] = {
            "o": self.origin,
            "d": self.doc,
            "k": self.kind,
            "p": self.payload,
            "s": self.seq,
        }
        if self.trace:
            data["t"] = self.trace
        return msgpack.packb(data, use_bin_type=True)

    @staticmethod
    def unpack(raw: bytes) -> Envelope:
        data = msgpack.unpackb(raw, raw=False)
        return Envelope(
            origin=data["o"],
            doc=data["d"],
            kind=data["k"],
            payload=data["p"],
            seq=data.get("s", 0),
            trace=data.get("t") or {},
        )


Handler = Callable[[Envelope], None]


class Bus(Protocol):
    node_id: str

    async def start(
        self,
        on_message: Handler,
        on_reconnect: Callable[[], None],
        on_subscribed: Callable[[str], None] | None = None,
    ) -> None:
        """Begin delivering messages of subscribed documents and control messages.

        ``on_subscribed`` gets a document id once its subscription is live (from then
        on, other nodes' answers to a presence query reach this one)."""

    async def close(self) -> None: ...

    def subscribe(self, doc_id: str) -> None: ...

    def unsubscribe(self, doc_id: str) -> None: ...

    def publish(self, envelope: Envelope) -> None:
        """Queue for sending; never blocks or raises (a lost message is repaired)."""

    def status(self) -> tuple[bool, str]:
        """(healthy, reason) for /readyz."""
