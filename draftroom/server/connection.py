"""One client's WebSocket, as a room peer: a bounded send queue drained by a writer task.

Rooms call ``send`` synchronously, so a slow client can never stall a broadcast;
past ``max_queue_bytes`` of backlog the client is disconnected instead of
buffering without limit.
"""

from __future__ import annotations

import asyncio
from collections import deque

from starlette.websockets import WebSocket, WebSocketDisconnect

from draftroom.crdt.protocol import encode_app

CLOSE_SLOW_CONSUMER = 1008


def _reason(text: str) -> str:
    # A close reason must fit in 123 bytes of UTF-8.
    raw = text.encode()[:123]
    return raw.decode(errors="ignore")


class Connection:
    def __init__(self, websocket: WebSocket, *, max_queue_bytes: int, app_messages: bool) -> None:
        self.websocket = websocket
        self.max_queue_bytes = max_queue_bytes
        self.app_messages = app_messages
        self.awareness_ids: set[int] = set()
        self.updates_received = 0
        self.closed = False
        self.close_code: int | None = None
        self._queue: deque[bytes] = deque()
        self._queued_bytes = 0
        self._wakeup = asyncio.Event()
        self._close_reason = ""
        self._ack: tuple[int, int] | None = None

    def send(self, frame: bytes) -> None:
        if self.closed:
            return
        self._queue.append(frame)
        self._queued_bytes += len(frame)
        if self._queued_bytes > self.max_queue_bytes:
            self._queue.clear()
            self._queued_bytes = 0
            self.close(CLOSE_SLOW_CONSUMER, "send queue overflow: connection too slow")
            return
        self._wakeup.set()

    def ack(self, upto: int, version: int) -> None:
        # Acks from one group commit resolve in one loop pass; coalesce them into
        # a single frame naming the highest update saved.
        if self._ack is None:
            asyncio.get_running_loop().call_soon(self._send_ack)
        self._ack = (upto, version)

    def _send_ack(self) -> None:
        if self._ack is not None:
            upto, version = self._ack
            self._ack = None
            self.send(encode_app({"type": "saved", "upto": upto, "version": version}))

    def close(self, code: int, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        self.close_code = code
        self._close_reason = _reason(reason)
        self._wakeup.set()

    def stop(self) -> None:
        """The client is gone: end the writer without a close frame."""
        self.closed = True
        self._wakeup.set()

    async def run_writer(self) -> None:
        """Drain the queue until closed; then send the close frame."""
        send = self.websocket.send
        try:
            while True:
                await self._wakeup.wait()
                self._wakeup.clear()
                while self._queue:
                    frame = self._queue.popleft()
                    self._queued_bytes -= len(frame)
                    await send({"type": "websocket.send", "bytes": frame})
                if self.closed:
                    break
            if self.close_code is not None:
                await send(
                    {
                        "type": "websocket.close",
                        "code": self.close_code,
                        "reason": self._close_reason,
                    }
                )
        except (OSError, RuntimeError, WebSocketDisconnect):
            # The client went away mid-send; the reader sees the disconnect.
            self.closed = True
