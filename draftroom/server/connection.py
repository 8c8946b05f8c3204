"""One client's WebSocket, as a room peer: a bounded send queue drained by a writer task.

Rooms call ``send`` synchronously, so a slow client can never stall a broadcast;
past ``max_queue_bytes`` of backlog the client is disconnected instead of
buffering without limit.

Fan-out is the busiest path (one call per delivered update), so when nothing is
queued a frame is written at once, without waking the writer task: the ASGI send
coroutine is stepped by hand and, in the usual case, finishes without suspending.
Only if the transport pushes back does the writer task take over the rest of that
send, and later frames queue behind it in order. ``--ws-send queued`` turns this off
(every frame through the writer task) so a benchmark can pair the two in one run
(``bench/fanout.py --servers draftroom,draftroom-queued``); see docs/BENCHMARKS.md.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Coroutine, Generator
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from draftroom.auth.admission import Admission
from draftroom.crdt.protocol import CloseCode, encode_app


def _reason(text: str) -> str:
    # A close reason must fit in 123 bytes of UTF-8.
    raw = text.encode()[:123]
    return raw.decode(errors="ignore")


class Connection:
    def __init__(
        self,
        websocket: WebSocket,
        *,
        admission: Admission,
        max_queue_bytes: int,
        app_messages: bool,
        send_path: str = "stepped",  # or "queued": see the module docstring
    ) -> None:
        self.websocket = websocket
        # What auth decided (principal, role, throttle); re-checks update its role.
        self.admission = admission
        self.max_queue_bytes = max_queue_bytes
        self.app_messages = app_messages
        self.awareness_ids: set[int] = set()
        self.updates_received = 0
        self.user: str | None = admission.principal.user_id
        self.username: str | None = admission.principal.username
        # Edits are refused (viewer, commenter); revocation flips it when the role changes.
        self.read_only = admission.read_only
        self.closed = False
        self.close_code: int | None = None
        self._queue: deque[bytes] = deque()
        self._queued_bytes = 0
        self._wakeup = asyncio.Event()
        self._close_reason = ""
        self._ack: tuple[int, int] | None = None
        self.acked_upto = 0  # rebalancing moves a socket only once this catches up
        self._loop = asyncio.get_running_loop()  # once: each lookup is a getpid() on 3.11
        self._step = send_path == "stepped"
        self._send = websocket.send
        self._busy = False  # the writer task owns sending right now
        self.abandoned = False
        self._reader_task: asyncio.Task[Any] | None = None
        self._writer_task: asyncio.Task[None] | None = None
        self._stalled: tuple[Coroutine[Any, Any, None], Any] | None = None

    @property
    def role(self) -> str | None:
        # The admission's, which revocation keeps current when the role changes.
        return self.admission.role

    def send(self, frame: bytes) -> None:
        if self.closed:
            return
        if self._step and not self._busy and not self._queue:
            self._send_now(frame)
            return
        self._queue.append(frame)
        self._queued_bytes += len(frame)
        if self._queued_bytes > self.max_queue_bytes:
            self._queue.clear()
            self._queued_bytes = 0
            self.abandon(CloseCode.SLOW_CONSUMER, "send queue overflow: connection too slow")
            return
        self._wakeup.set()

    def _send_now(self, frame: bytes) -> None:
        sending = self._send({"type": "websocket.send", "bytes": frame})
        try:
            waiting_on = sending.send(None)
        except StopIteration:
            return
        except (OSError, RuntimeError, WebSocketDisconnect):
            self.stop()  # the client is gone; wake the writer so it can finish
            return
        # The transport is full: the writer task finishes this send, then the queue.
        self._busy = True
        self._stalled = (sending, waiting_on)
        self._wakeup.set()

    def ack(self, upto: int, version: int) -> None:
        # Acks from one group commit resolve in one loop pass; coalesce them into
        # a single frame naming the highest update saved.
        if self._ack is None:
            self._loop.call_soon(self._send_ack)
        self._ack = (upto, version)
        self.acked_upto = max(self.acked_upto, upto)

    def _send_ack(self) -> None:
        if self._ack is not None:
            upto, version = self._ack
            self._ack = None
            self.send(encode_app({"type": "saved", "upto": upto, "version": version}))

    def role_changed(self) -> None:
        # Like the role in `welcome`; only clients that speak Draftroom's messages get it.
        if self.app_messages:
            self.send(encode_app({"type": "role", "role": self.role, "read_only": self.read_only}))

    def close(self, code: int, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        self.close_code = code
        self._close_reason = _reason(reason)
        self._wakeup.set()

    def attach(self, reader: asyncio.Task[Any], writer: asyncio.Task[None]) -> None:
        self._reader_task, self._writer_task = reader, writer

    def abandon(self, code: int, reason: str) -> None:
        """Give up on a client that stopped reading.

        A close frame could never get through its full socket, and its reader may
        wait forever for a message that never comes; so stop both tasks now and
        let the endpoint leave the room at once.
        """
        self.close(code, reason)
        self.abandoned = True
        current = asyncio.current_task()
        for task in (self._writer_task, self._reader_task):
            if task is not None and task is not current and not task.done():
                task.cancel()

    def stop(self) -> None:
        """End the writer: after the close frame, if a close is pending; else at once."""
        self.closed = True
        self._wakeup.set()

    async def run_writer(self) -> None:
        """Drain the queue until closed; then send the close frame."""
        send = self._send
        try:
            while True:
                await self._wakeup.wait()
                self._wakeup.clear()
                self._busy = True
                if self._stalled is not None:
                    await _Resume(*self._stalled)
                    self._stalled = None
                while self._queue:
                    frame = self._queue.popleft()
                    self._queued_bytes -= len(frame)
                    await send({"type": "websocket.send", "bytes": frame})
                self._busy = False
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
        finally:
            if self._stalled is not None:
                self._stalled[0].close()
                self._stalled = None


class _Resume:
    """Awaitable that finishes, inside a task, a coroutine someone started by hand.

    ``waiting_on`` is what the coroutine yielded when it had to wait (an asyncio
    future); the task waits on it, then the coroutine is resumed to completion.
    """

    def __init__(self, coroutine: Coroutine[Any, Any, None], waiting_on: Any) -> None:
        self.coroutine = coroutine
        self.waiting_on = waiting_on

    def __await__(self) -> Generator[Any, None, None]:
        yielded = self.waiting_on
        while True:
            try:
                yield yielded
            except BaseException as exc:  # cancellation or an error delivered by the task
                try:
                    yielded = self.coroutine.throw(exc)
                except StopIteration:
                    return
                continue
            try:
                yielded = self.coroutine.send(None)
            except StopIteration:
                return
