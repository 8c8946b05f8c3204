"""Redis pub/sub bus: one channel per document, subscribed while this node hosts it.

Connection handling is explicit (as redis-py's own asyncio client does it): a
publisher task pipelines queued messages; a subscriber task owns the pub/sub
connection. Either one losing Redis marks the bus unhealthy, retries with capped
backoff, and never lets a connection reset kill a task (hocuspocus #881). After
the subscriber reconnects it re-subscribes everything and asks the node to catch
every room up from the store, since pub/sub dropped whatever was sent meanwhile.

A hung Redis (stopped, or a network path that drops packets) closes nothing, so
waiting for errors is not enough: a node that publishes nothing would never
notice, and one that did would never learn it was over. So health is probed:
a prober task PINGs on the command connection every ``PROBE_SECONDS``, and the
subscriber PINGs in-band and reconnects when the answer does not come. Health
follows the latest evidence either way, so it recovers as soon as Redis does.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any

import msgpack
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from draftroom.bus.base import Envelope, Handler
from draftroom.bus.subscriber import Subscriber
from draftroom.telemetry import tracing

log = logging.getLogger(__name__)

CHANNEL_PREFIX = "draftroom:doc:"
CONTROL_CHANNEL = "draftroom:control"
# Redis itself disconnects a subscriber that falls this far behind; the queue
# bound keeps a Redis outage from growing our memory without limit.
MAX_QUEUED = 50_000
MAX_PIPELINE = 500
# How often the bus checks Redis answers, and how long an answer may take.
PROBE_SECONDS = 1.0
PROBE_TIMEOUT = 2.0
# Longest pause between reconnect attempts (before jitter of up to as much again):
# short, so a node is back within seconds of Redis.
MAX_BACKOFF = 1.0


def channel_for(doc_id: str) -> str:
    return CHANNEL_PREFIX + doc_id


NOT_YET = "not connected yet"


class RedisBus:
    def __init__(self, url: str, node_id: str | None = None) -> None:
        self.node_id = node_id or uuid.uuid4().hex[:12]
        self.url = url
        self.docs: set[str] = set()
        self.reconnects = 0
        self.dropped = 0
        self._healthy = False
        self._reason = NOT_YET
        self._listening = False  # the subscriber connection is up and answering
        self._queue: deque[Envelope] = deque()
        self._wakeup = asyncio.Event()
        self._changes: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self._on_message: Handler | None = None
        self.on_subscribed: Callable[[str], None] | None = None
        self._on_reconnect: Callable[[], None] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._client = self._connect()
        # Envelope.pack writes {"o": origin, ...} first: a map header byte, then these.
        self._own_prefix = msgpack.packb("o") + msgpack.packb(self.node_id)
        # Fault injection for tests of gap repair: drop this share of inbound updates.
        self._drop_inbound = float(os.environ.get("DRAFTROOM_FAULT_BUS_DROP", "0") or 0)

    def _connect(self) -> aioredis.Redis:
        return aioredis.Redis.from_url(
            self.url, socket_timeout=5, socket_connect_timeout=2, health_check_interval=10
        )

    async def start(
        self,
        on_message: Handler,
        on_reconnect: Callable[[], None],
        on_subscribed: Callable[[str], None] | None = None,
    ) -> None:
        self._on_message = on_message
        self.on_subscribed = on_subscribed
        self._on_reconnect = on_reconnect
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._publisher(), name="bus-publisher"),
            loop.create_task(self._subscriber(), name="bus-subscriber"),
            loop.create_task(self._probe(), name="bus-probe"),
        ]

    async def close(self) -> None:
        # Give queued messages a moment to go out before we stop.
        for _ in range(20):
            if not self._queue or not self._healthy:
                break
            await asyncio.sleep(0.05)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._client.aclose()

    def subscribe(self, doc_id: str) -> None:
        self.docs.add(doc_id)
        self._changes.put_nowait(("subscribe", doc_id))

    def unsubscribe(self, doc_id: str) -> None:
        self.docs.discard(doc_id)
        self._changes.put_nowait(("unsubscribe", doc_id))

    def publish(self, envelope: Envelope) -> None:
        if len(self._queue) >= MAX_QUEUED:
            self._queue.popleft()
            self.dropped += 1
        tracing.stamp(envelope)  # trace context / commit time for sampled updates
        self._queue.append(envelope)
        self._wakeup.set()

    def status(self) -> tuple[bool, str]:
        return self._healthy, self._reason

    def _mark(self, healthy: bool, reason: str) -> None:
        # The first outcome is always logged: a Redis unreachable from the start was
        # "down" before and after, and said nothing.
        if healthy != self._healthy or self._reason == NOT_YET:
            (log.info if healthy else log.warning)(
                "redis bus %s: %s", "up" if healthy else "down", reason
            )
        self._healthy, self._reason = healthy, reason

    # -- publishing -----------------------------------------------------------

    async def _publisher(self) -> None:
        delay = 0.1
        while True:
            if not self._queue:
                self._wakeup.clear()
                await self._wakeup.wait()
            batch = [self._queue.popleft() for _ in range(min(len(self._queue), MAX_PIPELINE))]
            try:
                with tracing.publish_batch(batch):
                    async with self._client.pipeline(transaction=False) as pipe:
                        for env in batch:
                            channel = channel_for(env.doc) if env.doc else CONTROL_CHANNEL
                            pipe.publish(channel, env.pack())
                        await pipe.execute()
                delay = 0.1
                if not self._healthy and self._listening:
                    self._mark(True, "ok")
            except (RedisError, OSError) as exc:
                # The batch is lost to other nodes; their gap repair reads the store.
                self.dropped += len(batch)
                self._mark(False, f"publish failed: {exc}")
                await asyncio.sleep(delay * (1 + random.random()))
                delay = min(delay * 2, MAX_BACKOFF)

    # -- probing --------------------------------------------------------------

    async def _probe(self) -> None:
        while True:
            await asyncio.sleep(PROBE_SECONDS)
            try:
                await asyncio.wait_for(self._client.ping(), PROBE_TIMEOUT)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # RedisError, OSError, TimeoutError
                self._mark(False, f"redis did not answer PING: {exc or type(exc).__name__}")
                continue
            if self._listening:
                self._mark(True, "ok")

    # -- subscribing ----------------------------------------------------------

    async def _subscriber(self) -> None:
        delay = 0.1
        first = True
        while True:
            subscriber = Subscriber(self.url, self._dispatch, self._subscribed)
            try:
                await subscriber.connect([CONTROL_CHANNEL, *(channel_for(d) for d in self.docs)])
                self._listening = True
                self._mark(True, "ok")
                delay = 0.1
                if not first:
                    self.reconnects += 1
                    if self._on_reconnect is not None:
                        self._on_reconnect()
                first = False
                await self._follow_changes(subscriber)
            except asyncio.CancelledError:
                subscriber.close()
                raise
            except (OSError, ConnectionError, TimeoutError) as exc:
                self._mark(False, f"subscriber disconnected: {exc or type(exc).__name__}")
                first = False
            self._listening = False
            subscriber.close()
            await asyncio.sleep(delay * (1 + random.random()))
            delay = min(delay * 2, MAX_BACKOFF)

    async def _follow_changes(self, subscriber: Subscriber) -> None:
        """Apply (un)subscriptions until the connection is lost. Messages never
        pass through here: the connection's data callback dispatches them.

        Every ``PROBE_SECONDS`` it PINGs in-band (which also keeps NAT and proxies
        from idling us out); a PING unanswered for ``PROBE_TIMEOUT`` means Redis
        hangs, and the connection is dropped to be made again."""
        assert subscriber.closed is not None
        lost: asyncio.Future[Any] = subscriber.closed
        loop = asyncio.get_running_loop()
        next_ping = loop.time() + PROBE_SECONDS
        while not lost.done():
            now = loop.time()
            if now >= next_ping:
                if subscriber.unanswered_for() > PROBE_TIMEOUT:
                    raise ConnectionError(f"no answer to PING in {PROBE_TIMEOUT:.0f} s")
                subscriber.drain_replies()
                subscriber.ping()
                next_ping = now + PROBE_SECONDS
                continue
            getter: asyncio.Future[Any] = asyncio.ensure_future(self._changes.get())
            waiting: set[asyncio.Future[Any]] = {getter, lost}
            done, _ = await asyncio.wait(
                waiting, timeout=next_ping - now, return_when=asyncio.FIRST_COMPLETED
            )
            if getter not in done:
                getter.cancel()
                continue
            action, doc_id = getter.result()
            if action == "subscribe" and doc_id in self.docs:
                subscriber.subscribe(channel_for(doc_id))
            elif action == "unsubscribe" and doc_id not in self.docs:
                subscriber.unsubscribe(channel_for(doc_id))
        raise ConnectionError("connection lost")

    def _subscribed(self, channel: bytes) -> None:
        name = channel.decode()
        if name.startswith(CHANNEL_PREFIX) and self.on_subscribed is not None:
            self.on_subscribed(name[len(CHANNEL_PREFIX) :])

    def _dispatch(self, raw: bytes) -> None:
        # Redis sends our own publishes back; skip them before paying for msgpack.
        if raw.startswith(self._own_prefix, 1):
            return
        try:
            envelope = Envelope.unpack(raw)
        except Exception:
            log.warning("dropping a malformed bus message (%d bytes)", len(raw))
            return
        if envelope.origin == self.node_id or self._on_message is None:
            return
        if (
            self._drop_inbound
            and envelope.kind == "update"
            and random.random() < self._drop_inbound
        ):
            return
        try:
            with tracing.receive(envelope):
                self._on_message(envelope)
        except Exception:
            log.exception("bus handler failed for %s on %s", envelope.kind, envelope.doc)
