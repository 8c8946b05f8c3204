"""Open rooms: loaded on first join, kept while peers are present, evicted after
the last one leaves plus a grace period.

A room loads in its own task, and every joiner awaits that one task; a joiner
that disconnects mid-load cancels only its own wait. (pycrdt-websocket hangs a
second client that arrives while a room is starting; this is the fix.)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

from draftroom.bus.base import APP, AWARENESS, PRESENCE_QUERY, UPDATE, Bus, Envelope
from draftroom.bus.memory import MemoryBus
from draftroom.crdt.protocol import encode_app, encode_awareness
from draftroom.crdt.room import NO_HOOKS, Peer, Room, RoomHooks, RoomLimits
from draftroom.crdt.update_check import DepthIndex
from draftroom.document.load import load_doc
from draftroom.store.base import Store

log = logging.getLogger(__name__)


def deliver(room: Room, envelope: Envelope) -> None:
    if envelope.kind == UPDATE:
        room.remote_update(envelope.seq, envelope.payload)
    elif envelope.kind == AWARENESS:
        room.remote_awareness(envelope.payload)
    elif envelope.kind == PRESENCE_QUERY:
        room.answer_presence_query()
    elif envelope.kind == APP:
        room.broadcast_app(encode_app(envelope.payload))


class Rooms:
    def __init__(
        self,
        store: Store,
        bus: Bus,
        limits: RoomLimits,
        grace_seconds: float,
        hooks: RoomHooks = NO_HOOKS,
    ) -> None:
        self.store = store
        self.bus = bus
        self.limits = limits
        self.grace_seconds = grace_seconds
        self.rooms: dict[str, Room] = {}
        self._loading: dict[str, asyncio.Task[Room]] = {}
        self._evictions: dict[str, asyncio.TimerHandle] = {}
        # Bus messages for rooms still loading, replayed once they are up.
        self._early: dict[str, list[Envelope]] = {}
        # The features' room hooks: handed to every room, and run when a peer leaves.
        self.hooks = hooks

    def get(self, doc_id: str) -> Room | None:
        """The open room of a document, or None."""
        return self.rooms.get(doc_id)

    def __getitem__(self, doc_id: str) -> Room:
        return self.rooms[doc_id]

    def __iter__(self) -> Iterator[Room]:
        """The open rooms (a copy: safe while rooms open and close)."""
        return iter(list(self.rooms.values()))

    def __len__(self) -> int:
        return len(self.rooms)

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self.rooms

    async def join(self, doc_id: str, peer: Peer) -> Room:
        while True:
            room = self.rooms.get(doc_id)
            if room is None:
                task = self._loading.get(doc_id)
                if task is None:
                    task = asyncio.get_running_loop().create_task(self._load(doc_id))
                    self._loading[doc_id] = task
                    task.add_done_callback(lambda _: self._loading.pop(doc_id, None))
                room = await asyncio.shield(task)
            if not room.closed:
                break
        timer = self._evictions.pop(doc_id, None)
        if timer is not None:
            timer.cancel()
        room.join(peer)
        return room

    async def _load(self, doc_id: str) -> Room:
        # Subscribe before reading the store, so nothing committed in between is missed.
        self._early[doc_id] = []
        try:
            self.bus.subscribe(doc_id)
            return await self._open(doc_id)
        except BaseException:
            self.bus.unsubscribe(doc_id)
            raise
        finally:
            early = self._early.pop(doc_id, [])
            room = self.rooms.get(doc_id)
            if room is not None:
                for envelope in early:
                    deliver(room, envelope)

    async def _open(self, doc_id: str) -> Room:
        depths = DepthIndex()
        loaded = await load_doc(self.store, doc_id, depths)
        room = Room(
            doc_id,
            loaded.doc,
            version=loaded.version,
            snapshot_seq=loaded.snapshot_seq,
            size_bytes=loaded.size,
            store=self.store,
            limits=self.limits,
            bus=self.bus,
            hooks=self.hooks,
            on_broken=self._drop,
            depths=depths,
        )
        self.rooms[doc_id] = room
        room.query_presence()
        return room

    def subscribed(self, doc_id: str) -> None:
        """Our subscription is live: now other nodes' answers will reach us."""
        room = self.rooms.get(doc_id)
        if room is not None:
            room.query_presence()

    def deliver(self, envelope: Envelope) -> None:
        """A message from another node about one of our documents."""
        room = self.rooms.get(envelope.doc)
        if room is not None:
            deliver(room, envelope)
        elif envelope.doc in self._early:
            self._early[envelope.doc].append(envelope)

    async def maintain(self, catchup_seconds: float, presence_timeout_seconds: float) -> None:
        """Periodic safety nets, run for the node's lifetime: updates pub/sub lost,
        and presence nobody renews.

        A room is caught up from the store when it is still behind what was stored
        one period ago (so an update whose message is merely in flight does not
        count, yet a steady stream of writes elsewhere cannot postpone the repair
        forever), and on every pass while the bus is unhealthy, when nothing
        arrives by pub/sub at all.
        """
        seen: dict[str, int] = {}
        while True:
            await asyncio.sleep(catchup_seconds)
            try:
                self._expire_presence(presence_timeout_seconds)
                if isinstance(self.bus, MemoryBus) or not self.rooms:
                    continue
                bus_healthy = self.bus.status()[0]
                stored = await self.store.versions(list(self.rooms))
                for doc_id, version in stored.items():
                    room = self.rooms.get(doc_id)
                    if room is None or version <= room.version:
                        continue
                    if not bus_healthy or seen.get(doc_id, -1) > room.version:
                        room.catch_up()
                seen = stored
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("maintenance pass failed")

    def _expire_presence(self, timeout_seconds: float) -> None:
        for room in list(self.rooms.values()):
            removal = room.awareness.expire(timeout_seconds)
            if removal is not None:
                room.broadcast(encode_awareness(removal), exclude=None)

    def leave(self, room: Room, peer: Peer) -> None:
        room.leave(peer)
        self.hooks.on_peer_leave(room, peer)
        if room.peers or room.closed:
            return
        loop = asyncio.get_running_loop()
        previous = self._evictions.pop(room.doc_id, None)
        if previous is not None:
            previous.cancel()
        self._evictions[room.doc_id] = loop.call_later(self.grace_seconds, self._evict, room)

    def _evict(self, room: Room) -> None:
        self._evictions.pop(room.doc_id, None)
        if room.peers:
            return
        # Every edit the room accepted is already queued in the store's committer,
        # so dropping the in-memory doc loses nothing.
        self._drop(room)

    def _drop(self, room: Room) -> None:
        room.closed = True
        if self.rooms.get(room.doc_id) is room:
            del self.rooms[room.doc_id]
            if room.doc_id not in self._loading:
                self.bus.unsubscribe(room.doc_id)

    def close_room(self, doc_id: str, code: int, reason: str) -> None:
        room = self.rooms.get(doc_id)
        if room is not None:
            room.close_all(code, reason)
            self._drop(room)

    def close_all(self, code: int, reason: str) -> None:
        for room in list(self.rooms.values()):
            room.close_all(code, reason)
            self._drop(room)
