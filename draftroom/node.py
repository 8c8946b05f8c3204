"""The node: one server process's store, bus, open rooms and live connections.

It sits below every feature. It routes messages between nodes (document traffic
to rooms, control messages to the features' handlers), offers ``broadcast_app`` and
``broadcast_control`` to the features, and starts and drains everything in order.
What features add comes in once, through ``install`` (see ``draftroom.features``);
the node knows nothing of auth, agents, export, analytics or HTTP.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any, Protocol, TypeVar

from draftroom.bus.base import APP, CONTROL, Bus, Envelope
from draftroom.bus.memory import MemoryBus
from draftroom.config import Settings
from draftroom.crdt.protocol import CloseCode, encode_app, encode_awareness
from draftroom.crdt.room import Peer, RoomLimits
from draftroom.crdt.rooms import Rooms
from draftroom.features import Feature, FeatureHooks
from draftroom.store import Store, store_for

log = logging.getLogger(__name__)

F = TypeVar("F")


class LiveSocket(Peer, Protocol):
    """A client socket as the node and its features see it (``server.Connection``)."""

    closed: bool
    auth: object | None  # what admission decided (auth's ``Admission``)


def create_bus(settings: Settings) -> Bus:
    if settings.redis_url:
        from draftroom.bus.redis import RedisBus

        return RedisBus(settings.redis_url)
    return MemoryBus()


class Node:
    def __init__(self, settings: Settings, store: Store | None = None, bus: Bus | None = None):
        self.settings = settings
        self.store: Store = store or store_for(settings)
        self.bus: Bus = bus or create_bus(settings)
        self.hooks = FeatureHooks()
        self.rooms = Rooms(
            self.store,
            self.bus,
            RoomLimits(
                max_document_bytes=settings.max_document_bytes,
                compact_after=settings.compact_after,
            ),
            grace_seconds=settings.room_grace_seconds,
            hooks=self.hooks,
        )
        # Every live client socket (the endpoint adds and removes them); features that
        # cut off or count sockets read it.
        self.connections: set[LiveSocket] = set()
        self.draining = False
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def node_id(self) -> str:
        return self.bus.node_id

    # -- features ---------------------------------------------------------------

    def install(self, features: Sequence[Feature]) -> None:
        """Take the features (once, before start); they start in this order."""
        self.hooks.install(features)

    @property
    def features(self) -> tuple[Feature, ...]:
        return self.hooks.features

    def feature(self, kind: type[F]) -> F:
        """The installed feature of this type (LookupError if there is none)."""
        found = self.hooks.find(kind)
        if found is None:
            raise LookupError(f"no {kind.__name__} feature on this node")
        return found

    def optional(self, kind: type[F]) -> F | None:
        """The installed feature of this type, or None (e.g. analytics turned off)."""
        return self.hooks.find(kind)

    async def start(self) -> None:
        await self.store.open()
        await self.bus.start(self._on_bus_message, self._on_bus_reconnect, self.rooms.subscribed)
        self._tasks.append(asyncio.get_running_loop().create_task(self._maintenance()))
        for feature in self.features:
            await feature.start()
        log.info(
            "draftroom node %s started: store=%s bus=%s",
            self.node_id,
            self.store.dialect,
            type(self.bus).__name__,
        )

    # -- messages between nodes -----------------------------------------------

    def _on_bus_message(self, envelope: Envelope) -> None:
        if envelope.kind == CONTROL:
            handler = self.hooks.control.get(str(envelope.payload.get("type")))
            if handler is not None:
                handler(envelope.payload)
            return
        self.rooms.deliver(envelope)

    def _on_bus_reconnect(self) -> None:
        # Pub/sub dropped whatever was sent while we were away: read it from the store.
        for room in self.rooms:
            room.catch_up()

    def broadcast_app(self, doc_id: str, data: dict[str, Any]) -> None:
        """Send an app message to every collaborator of a document, on every node."""
        room = self.rooms.get(doc_id)
        if room is not None:
            room.broadcast_app(encode_app(data))
        self.bus.publish(Envelope(self.node_id, doc_id, APP, data))

    def broadcast_control(self, data: dict[str, Any]) -> None:
        """Run a control handler on every node, this one included."""
        handler = self.hooks.control.get(str(data.get("type")))
        if handler is not None:
            handler(data)
        self.bus.publish(Envelope(self.node_id, "", CONTROL, data))

    async def _maintenance(self) -> None:
        """Periodic safety nets: updates pub/sub lost, and presence nobody renews."""
        seen: dict[str, int] = {}
        while True:
            await asyncio.sleep(self.settings.catchup_seconds)
            try:
                for open_room in list(self.rooms.rooms.values()):
                    removal = open_room.awareness.expire(self.settings.presence_timeout_seconds)
                    if removal is not None:
                        open_room.broadcast(encode_awareness(removal), exclude=None)
                if isinstance(self.bus, MemoryBus) or not self.rooms.rooms:
                    continue
                ids = list(self.rooms.rooms)
                stored = await self.store.versions(ids)
                for doc_id, version in stored.items():
                    room = self.rooms.rooms.get(doc_id)
                    # Behind twice in a row: not just a commit whose message is in flight.
                    if (
                        room is not None
                        and version > room.version
                        and seen.get(doc_id, -1) >= version
                    ):
                        room.catch_up()
                seen = stored
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("maintenance pass failed")

    # -- lifecycle ------------------------------------------------------------

    def status(self) -> dict[str, str]:
        healthy, reason = self.bus.status()
        return {"bus": "ok" if healthy else reason}

    async def drain(self) -> None:
        """Stop taking clients, save everything pending, then send clients elsewhere.

        Closing with 1012 (service restart) makes y-websocket reconnect, through the
        load balancer, to a node that is still up.
        """
        if self.draining:
            return
        self.draining = True
        try:
            await asyncio.wait_for(self.store.flush(), self.settings.drain_seconds)
        except TimeoutError:
            log.error("drain: pending saves did not finish in %.0f s", self.settings.drain_seconds)
        self.rooms.close_all(CloseCode.RESTARTING, "server restarting")
        for conn in list(self.connections):
            conn.close(CloseCode.RESTARTING, "server restarting")

    async def stop(self) -> None:
        await self.drain()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for feature in reversed(self.features):
            try:
                await feature.stop()
            except Exception:
                # One feature failing to stop must not keep the store from closing.
                log.exception("stopping %s failed", type(feature).__name__)
        await self.bus.close()
        await self.store.close()
