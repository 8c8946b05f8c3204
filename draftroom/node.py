"""The node: one server process's store, bus, open rooms and live connections.

It sits below every feature. It routes messages between nodes (document traffic
to rooms, control messages to the features' handlers), offers ``broadcast_app`` and
``broadcast_control`` to the features, samples event-loop lag for those that read it
(``draftroom.loop_lag``), and starts and drains everything in order.
What features add comes in once, through ``install`` (see ``draftroom.features``);
the node knows nothing of auth, agents, export, analytics or HTTP.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Sequence
from typing import Any, Protocol, TypeVar

from draftroom.bus.base import APP, CONTROL, Bus, Envelope
from draftroom.bus.memory import MemoryBus
from draftroom.config import Settings
from draftroom.crdt.protocol import CloseCode, encode_app
from draftroom.crdt.room import Peer, RoomLimits
from draftroom.crdt.rooms import Rooms
from draftroom.features import Feature, FeatureHooks
from draftroom.loop_lag import LoopLag
from draftroom.store import Store, store_for

log = logging.getLogger(__name__)

F = TypeVar("F")


class LiveSocket(Peer, Protocol):
    """A client socket as the node and its features see it (``server.Connection``)."""

    acked_upto: int  # the highest of its updates saved and acknowledged
    closed: bool


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
        # One lag timer for the whole node; features that need the lag are handed it.
        self.loop_lag = LoopLag()
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
        self.abandoned = False  # shutdown gave up waiting on something (a stalled store)
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
        maintenance = self.rooms.maintain(
            self.settings.catchup_seconds, self.settings.presence_timeout_seconds
        )
        self._tasks.append(asyncio.get_running_loop().create_task(maintenance))
        for feature in self.features:
            await feature.start()
        # After the features, so start-up work (worker pools) is not taken for load.
        self._tasks.append(
            asyncio.get_running_loop().create_task(self.loop_lag.run(), name="loop-lag")
        )
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

    # -- lifecycle ------------------------------------------------------------

    def status(self) -> dict[str, str]:
        healthy, reason = self.bus.status()
        return {"bus": "ok" if healthy else reason}

    async def drain(self) -> bool:
        """Stop taking clients, save everything pending, then send clients elsewhere.

        Closing with 1012 (service restart) makes y-websocket reconnect, through the
        load balancer, to a node that is still up. The wait for saves ends at
        ``drain_seconds`` even if the store is stalled: what is still unsaved then
        was never acknowledged, so its clients still hold it and re-send it on
        reconnect. Returns whether every pending save finished in time.
        """
        if self.draining:
            return True
        self.draining = True
        started = time.monotonic()
        pending = self.store.committer.pending
        log.info(
            "drain: %d clients, %d saves pending; waiting up to %.1f s for the saves",
            len(self.connections),
            pending,
            self.settings.drain_seconds,
        )
        try:
            await asyncio.wait_for(self.store.flush(), self.settings.drain_seconds)
            saved = True
        except TimeoutError:
            saved = False
        self.rooms.close_all(CloseCode.RESTARTING, "server restarting")
        for conn in list(self.connections):
            conn.close(CloseCode.RESTARTING, "server restarting")
        if saved:
            log.info("drain: done in %.1f s, every save finished", time.monotonic() - started)
        else:
            log.error(
                "drain: %d saves still pending after %.1f s (store stalled?); their clients "
                "keep those edits and re-send them on reconnect",
                self.store.committer.pending,
                time.monotonic() - started,
            )
        return saved

    async def stop(self) -> None:
        await self.drain()
        # The drain had its deadline; what follows must not hang on a stalled
        # dependency either, or the process outlives every orchestrator timeout.
        # (Even cancelling a task can wait on the store: the database driver asks
        # the server to cancel the running query.)
        deadline = time.monotonic() + _STOP_SECONDS
        for task in self._tasks:
            task.cancel()
        tasks = asyncio.gather(*self._tasks, return_exceptions=True)
        done = [await _bounded(tasks, deadline, "stopping background tasks")]
        # One feature failing or hanging must not keep the store from closing.
        done += [
            await _bounded(feature.stop(), deadline, f"stopping {type(feature).__name__}")
            for feature in reversed(self.features)
        ]
        done.append(await _bounded(self.bus.close(), deadline, "closing the bus"))
        done.append(await _bounded(self.store.close(), deadline, "closing the store"))
        self.abandoned = not all(done)


# After the drain, the longest the rest of shutdown may take.
_STOP_SECONDS = 2.0


async def _bounded(work: Awaitable[object], deadline: float, what: str) -> bool:
    try:
        await asyncio.wait_for(work, max(deadline - time.monotonic(), 0.1))
    except TimeoutError:
        log.error("shutdown: %s did not finish in time; going on without it", what)
        return False
    except Exception:
        log.exception("shutdown: %s failed", what)
    return True
