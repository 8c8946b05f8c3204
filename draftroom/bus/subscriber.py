"""A lean Redis pub/sub subscriber: one asyncio connection parsed with hiredis.

redis-py's PubSub pays a health check, a retry wrapper and a timeout context for
every message it returns; under load that was 23% of a node's CPU (see
docs/BENCHMARKS.md). Pub/sub needs little of that: after SUBSCRIBE the server
only pushes ``message`` arrays. Here each socket read is fed to hiredis's parser
(the same one redis-py uses) and every complete message is dispatched in that
one callback, however many arrived together.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from typing import cast
from urllib.parse import unquote, urlparse

import hiredis


def _command(*parts: str | bytes) -> bytes:
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        raw = part.encode() if isinstance(part, str) else part
        out.append(b"$%d\r\n%s\r\n" % (len(raw), raw))
    return b"".join(out)


class _Protocol(asyncio.Protocol):
    def __init__(
        self,
        on_message: Callable[[bytes], None],
        on_subscribed: Callable[[bytes], None],
        lost: asyncio.Future[None],
    ) -> None:
        self.reader = hiredis.Reader()
        self.on_message = on_message
        self.on_subscribed = on_subscribed
        self.lost = lost
        self.transport: asyncio.Transport | None = None
        self.replies: asyncio.Queue[object] = asyncio.Queue()
        # When Redis last sent anything (loop time): a sign of life after a PING.
        self.heard_at = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.heard_at = asyncio.get_running_loop().time()
        self.reader.feed(data)
        while (item := self.reader.gets()) is not False:
            if isinstance(item, list) and item and item[0] == b"message":
                self.on_message(item[2])
            elif isinstance(item, list) and item and item[0] == b"subscribe":
                self.on_subscribed(item[1])
            elif (
                not isinstance(item, list) or item[0] != b"unsubscribe"
            ):  # replies to AUTH, PING and (un)subscribe confirmations
                self.replies.put_nowait(item)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(None)


class Subscriber:
    """One subscribed connection. ``closed`` resolves when it is lost."""

    def __init__(
        self,
        url: str,
        on_message: Callable[[bytes], None],
        on_subscribed: Callable[[bytes], None],
    ) -> None:
        self.url = urlparse(url)
        self.on_message = on_message
        self.on_subscribed = on_subscribed
        self._protocol: _Protocol | None = None
        self.closed: asyncio.Future[None] | None = None
        self._pinged_at: float | None = None  # the oldest PING not yet answered

    async def connect(self, channels: list[str], wait: float = 2.0) -> None:
        loop = asyncio.get_running_loop()
        self.closed = loop.create_future()
        context = ssl.create_default_context() if self.url.scheme == "rediss" else None
        _, protocol = await asyncio.wait_for(
            loop.create_connection(
                lambda: _Protocol(self.on_message, self.on_subscribed, self.closed),  # type: ignore[arg-type]
                self.url.hostname or "127.0.0.1",
                self.url.port or 6379,
                ssl=context,
            ),
            wait,
        )
        self._protocol = protocol
        if self.url.password:
            user = unquote(self.url.username or "default")
            await self._request(_command("AUTH", user, unquote(self.url.password)), wait)
        await self._request(_command("PING"), wait)
        if channels:
            self.subscribe(*channels)

    async def _request(self, frame: bytes, wait: float) -> object:
        assert self._protocol is not None and self._protocol.transport is not None
        self._protocol.transport.write(frame)
        reply = await asyncio.wait_for(self._protocol.replies.get(), wait)
        if isinstance(reply, hiredis.ReplyError):
            raise ConnectionError(f"redis refused: {reply}")
        return reply

    def subscribe(self, *channels: str) -> None:
        self._write(_command("SUBSCRIBE", *channels))

    def unsubscribe(self, *channels: str) -> None:
        self._write(_command("UNSUBSCRIBE", *channels))

    def ping(self) -> None:
        # In subscribed mode PING is answered in-band; any data after it, the
        # answer or a message, shows Redis is alive (see unanswered_for).
        if self._pinged_at is None:
            self._pinged_at = asyncio.get_running_loop().time()
        self._write(_command("PING"))

    def unanswered_for(self) -> float:
        """Seconds since a PING that Redis has not answered (nor sent anything
        after); 0 when it has."""
        if self._pinged_at is None or self._protocol is None:
            return 0.0
        if self._protocol.heard_at >= self._pinged_at:
            self._pinged_at = None
            return 0.0
        return asyncio.get_running_loop().time() - self._pinged_at

    def _write(self, frame: bytes) -> None:
        if self._protocol is None or self._protocol.transport is None:
            raise ConnectionError("not connected")
        if self._protocol.transport.is_closing():
            raise ConnectionError("connection closing")
        self._protocol.transport.write(frame)

    def drain_replies(self) -> None:
        """PING answers pile up; nobody needs them."""
        if self._protocol is not None:
            while not self._protocol.replies.empty():
                self._protocol.replies.get_nowait()

    def close(self) -> None:
        if self._protocol is not None and self._protocol.transport is not None:
            self._protocol.transport.close()
