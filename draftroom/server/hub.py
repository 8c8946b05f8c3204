"""The hub: everything one node shares between its HTTP and WebSocket handlers."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from draftroom.config import Settings
from draftroom.crdt.room import RoomLimits
from draftroom.crdt.rooms import Rooms
from draftroom.store import Store, create_store

if TYPE_CHECKING:
    from draftroom.server.connection import Connection

log = logging.getLogger(__name__)


class Hub:
    def __init__(self, settings: Settings, store: Store | None = None) -> None:
        self.settings = settings
        self.store: Store = store or create_store(
            database_url=settings.database_url,
            data_dir=settings.data_dir,
            commit_delay=settings.commit_delay,
            max_batch=settings.commit_max_batch,
        )
        self.rooms = Rooms(
            self.store,
            RoomLimits(
                max_document_bytes=settings.max_document_bytes,
                compact_after=settings.compact_after,
            ),
            grace_seconds=settings.room_grace_seconds,
        )
        self.connections: set[Connection] = set()
        self.draining = False

    async def start(self) -> None:
        await self.store.open()

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
        self.rooms.close_all(1012, "server restarting")
        for conn in list(self.connections):
            conn.close(1012, "server restarting")

    async def stop(self) -> None:
        await self.drain()
        await self.store.close()
