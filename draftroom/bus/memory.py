"""In-process bus: single-node default, and several hubs in one process in tests."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

from draftroom.bus.base import CONTROL, Envelope, Handler


class Broker:
    """Shared by the MemoryBus instances that should hear each other."""

    def __init__(self) -> None:
        self.nodes: dict[str, MemoryBus] = {}


class MemoryBus:
    def __init__(self, broker: Broker | None = None, node_id: str | None = None) -> None:
        self.node_id = node_id or uuid.uuid4().hex[:12]
        self.broker = broker or Broker()
        self.docs: set[str] = set()
        self._on_message: Handler | None = None
        self.on_subscribed: Callable[[str], None] | None = None

    async def start(
        self,
        on_message: Handler,
        on_reconnect: Callable[[], None],
        on_subscribed: Callable[[str], None] | None = None,
    ) -> None:
        self._on_message = on_message
        self.on_subscribed = on_subscribed
        self.broker.nodes[self.node_id] = self

    async def close(self) -> None:
        self.broker.nodes.pop(self.node_id, None)

    def subscribe(self, doc_id: str) -> None:
        self.docs.add(doc_id)
        if self.on_subscribed is not None and len(self.broker.nodes) > 1:
            asyncio.get_running_loop().call_soon(self.on_subscribed, doc_id)

    def unsubscribe(self, doc_id: str) -> None:
        self.docs.discard(doc_id)

    def publish(self, envelope: Envelope) -> None:
        if len(self.broker.nodes) < 2:
            return
        loop = asyncio.get_running_loop()
        for node in self.broker.nodes.values():
            if node is not self and (envelope.kind == CONTROL or envelope.doc in node.docs):
                # Asynchronous, like a network hop: never re-enter the sender.
                loop.call_soon(node._deliver, envelope)

    def _deliver(self, envelope: Envelope) -> None:
        if self._on_message is not None:
            self._on_message(envelope)

    def status(self) -> tuple[bool, str]:
        return True, "in-process"
