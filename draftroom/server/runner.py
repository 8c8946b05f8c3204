"""Running the app under uvicorn, with a drain before shutdown."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import socket
import threading
from types import FrameType
from typing import Any

import uvicorn

from draftroom.config import Settings
from draftroom.node import Node
from draftroom.server.app import create_app
from draftroom.server.slow_clients import deadline_protocol

log = logging.getLogger(__name__)


class DrainingServer(uvicorn.Server):
    """On the first SIGTERM/SIGINT: flush pending saves (for at most
    ``drain_seconds``), close clients with 1012, then let uvicorn shut down.
    (uvicorn alone closes sockets first and runs the app's shutdown after.) A
    second signal exits at once. After a complete drain the process exits 0; if
    saves were still pending, 1."""

    def __init__(self, config: uvicorn.Config, node: Node) -> None:
        super().__init__(config)
        self.node = node
        self._loop: asyncio.AbstractEventLoop | None = None
        self._drain_task: asyncio.Task[bool] | None = None
        self.drained: bool | None = None  # after a signal: whether every save finished

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().startup(sockets)
        if self.should_exit:  # the port was taken, or the app failed to start
            return
        # Only now is the port bound: "ready" before this sent health checks to nothing.
        log.info("draftroom ready at %s", self.url())
        # What exists after startup lives for the whole process: take it out of the
        # cyclic collector's scans, and scan young objects a tenth as often. The
        # collector was 7% of a node's CPU under load (docs/BENCHMARKS.md).
        gc.collect()
        gc.freeze()
        young, middle, old = gc.get_threshold()
        gc.set_threshold(young * 10, middle, old)

    def url(self) -> str:
        host, port = self.config.host, self.config.port
        for server in self.servers:
            for sock in server.sockets:
                port = sock.getsockname()[1]  # the real one when --port 0
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{port}"

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        await super().serve(sockets)
        if self.drained is False or self.node.abandoned:
            # A dependency is stalled (the store, usually) and the event loop's own
            # cleanup would wait on it: cancelled database calls try to reach it.
            # Everything that could be saved was; leave now. Exit status 1 says
            # that saves were left pending (their clients still hold them).
            logging.shutdown()
            os._exit(1 if self.drained is False else 0)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._loop is None or self.node.draining or self.should_exit:
            super().handle_exit(sig, frame)
            return
        # Signal handlers run between bytecodes of the loop's thread; hand over.
        self._loop.call_soon_threadsafe(self._drain_then_exit, sig, frame)

    def _drain_then_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._drain_task is not None:
            return
        self._drain_task = asyncio.get_running_loop().create_task(self.node.drain())
        self._drain_task.add_done_callback(self._drained)

    def _drained(self, task: asyncio.Task[bool]) -> None:
        self.drained = not task.cancelled() and task.exception() is None and task.result()
        # Not handle_exit: uvicorn would re-raise the signal after shutdown, and a
        # clean drain would look like a kill (exit status 143).
        self.should_exit = True
        # Whatever hangs from here on (the loop's own cleanup, a driver waiting on a
        # stalled server), the process ends: a watchdog outside the event loop.
        watchdog = threading.Timer(_AFTER_DRAIN_SECONDS, self._give_up)
        watchdog.daemon = True
        watchdog.start()

    def _give_up(self) -> None:
        log.error(
            "shutdown still not finished %.0f s after the drain; exiting now", _AFTER_DRAIN_SECONDS
        )
        logging.shutdown()
        os._exit(1)


# After the drain: uvicorn's wait for sockets (2 s), the hub's stop (2 s), a margin.
_AFTER_DRAIN_SECONDS = 6.0


def proxy_options(settings: Settings) -> dict[str, Any]:
    """uvicorn trusts X-Forwarded-For from loopback by default, which let any client
    behind a local proxy claim any address; here only the configured proxies are."""
    if not settings.forwarded_allow_ips:
        return {"proxy_headers": False}
    return {"proxy_headers": True, "forwarded_allow_ips": settings.forwarded_allow_ips}


def uvicorn_config(settings: Settings, node: Node) -> uvicorn.Config:
    return uvicorn.Config(
        create_app(settings, node),
        http=deadline_protocol(settings.header_timeout_seconds, settings.body_timeout_seconds),
        host=settings.host,
        **proxy_options(settings),
        port=settings.port,
        loop="uvloop",
        ws="websockets-sansio",
        ws_max_size=settings.max_message_bytes,
        ws_per_message_deflate=settings.ws_per_message_deflate,
        lifespan="on",
        log_config=None,
        access_log=False,
        # The drain already closed every socket; this is only for stragglers.
        timeout_graceful_shutdown=2,
    )


def run(settings: Settings) -> None:
    node = Node(settings)
    DrainingServer(uvicorn_config(settings, node), node).run()
