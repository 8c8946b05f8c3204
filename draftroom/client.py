"""A small asyncio y-websocket client with pycrdt, opted in to Draftroom's app messages.

Used by tests, benchmarks and load tests; also a reference for client authors.

    async with DraftroomClient("ws://127.0.0.1:8000/ws/my-doc") as client:
        n = client.insert("hello")
        await client.wait_saved(n)
"""

from __future__ import annotations

import asyncio
import time
from types import TracebackType
from typing import Any

import websockets
from pycrdt import Doc, Text

from draftroom.crdt.protocol import (
    AppMessage,
    AwarenessMessage,
    SyncMessage,
    SyncType,
    decode_message,
    encode_app,
    encode_awareness,
    encode_sync,
)


class DraftroomClient:
    def __init__(
        self,
        url: str,
        *,
        app_messages: bool = True,
        text_name: str = "text",
        connect_timeout: float = 10.0,
    ) -> None:
        self.url = url
        self.app_messages = app_messages
        self.doc: Doc = Doc()
        self.text = self.doc.get(text_name, type=Text)
        self.connect_timeout = connect_timeout
        self.synced = asyncio.Event()
        self.sent_updates = 0
        self.saved_upto = 0
        self.version = 0
        self.app_log: list[dict[str, Any]] = []
        self.awareness_frames = 0
        self.update_arrivals: list[tuple[float, bytes]] = []
        self.close_code: int | None = None
        self.close_reason: str = ""
        self._saved = asyncio.Condition()
        self._ws: Any = None
        self._reader: asyncio.Task[None] | None = None

    async def __aenter__(self) -> DraftroomClient:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def connect(self, *, wait_synced: bool = True) -> None:
        sep = "&" if "?" in self.url else "?"  # the URL may carry ?token=
        url = self.url + (sep + "draftroom=1" if self.app_messages else "")
        self._ws = await websockets.connect(
            url, max_size=None, compression=None, open_timeout=self.connect_timeout
        )
        self._reader = asyncio.get_running_loop().create_task(self._read())
        await self.send_raw(encode_sync(SyncType.STEP1, self.doc.get_state()))
        if wait_synced:
            await asyncio.wait_for(self.synced.wait(), self.connect_timeout)

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)

    async def send_raw(self, frame: bytes) -> None:
        await self._ws.send(frame)

    # -- editing ----------------------------------------------------------------

    def insert(self, text: str, index: int | None = None) -> int:
        """Insert locally and send the update; returns its number for wait_saved."""
        before = self.doc.get_state()
        self.text.insert(len(self.text) if index is None else index, text)
        return self.send_update(self.doc.get_update(before))

    def send_update(self, update: bytes) -> int:
        self.sent_updates += 1
        asyncio.get_running_loop().create_task(self._ws.send(encode_sync(SyncType.UPDATE, update)))
        return self.sent_updates

    async def set_awareness(self, client_id: int, clock: int, state: str) -> None:
        from draftroom.crdt.awareness import encode_update

        await self.send_raw(encode_awareness(encode_update([(client_id, clock, state.encode())])))

    async def hello(self) -> None:
        await self.send_raw(encode_app({"type": "hello"}))

    async def wait_saved(self, upto: int, within: float = 10.0) -> int:
        """Wait until the server acknowledges update ``upto``; returns the version."""
        async with self._saved:
            await asyncio.wait_for(self._saved.wait_for(lambda: self.saved_upto >= upto), within)
        return self.version

    async def wait_closed(self, within: float = 10.0) -> int | None:
        if self._reader is not None:
            await asyncio.wait_for(asyncio.shield(self._reader), within)
        return self.close_code

    # -- incoming ---------------------------------------------------------------

    async def _read(self) -> None:
        try:
            async for frame in self._ws:
                await self._handle(frame)
        except websockets.ConnectionClosed:
            pass
        finally:
            if self._ws.close_code is not None:
                self.close_code = self._ws.close_code
                self.close_reason = self._ws.close_reason or ""
            async with self._saved:
                self._saved.notify_all()

    async def _handle(self, frame: bytes) -> None:
        message = decode_message(frame)
        if isinstance(message, SyncMessage):
            if message.subtype == SyncType.STEP1:
                # The server numbers step 2 like any update when it acknowledges.
                self.sent_updates += 1
                await self.send_raw(
                    encode_sync(SyncType.STEP2, self.doc.get_update(message.payload))
                )
            else:
                self.doc.apply_update(message.payload)
                self.update_arrivals.append((time.perf_counter(), message.payload))
                if message.subtype == SyncType.STEP2:
                    self.synced.set()
        elif isinstance(message, AwarenessMessage):
            self.awareness_frames += 1
        elif isinstance(message, AppMessage):
            self.app_log.append(message.data)
            if message.data.get("type") == "saved":
                async with self._saved:
                    self.saved_upto = max(self.saved_upto, message.data["upto"])
                    self.version = max(self.version, message.data["version"])
                    self._saved.notify_all()
