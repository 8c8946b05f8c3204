"""Running the app under uvicorn, with a drain before shutdown."""

from __future__ import annotations

import asyncio
import gc
import socket
from types import FrameType

import uvicorn

from draftroom.config import Settings
from draftroom.node import Node
from draftroom.server.app import create_app


class DrainingServer(uvicorn.Server):
    """On the first SIGTERM/SIGINT: flush pending saves, close clients with 1012,
    then let uvicorn shut down. (uvicorn alone closes sockets first and runs the
    app's shutdown after.) A second signal exits at once."""

    def __init__(self, config: uvicorn.Config, node: Node) -> None:
        super().__init__(config)
        self.node = node
        self._loop: asyncio.AbstractEventLoop | None = None
        self._drain_task: asyncio.Task[None] | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().startup(sockets)
        # What exists after startup lives for the whole process: take it out of the
        # cyclic collector's scans, and scan young objects a tenth as often. The
        # collector was 7% of a node's CPU under load (docs/BENCHMARKS.md).
        gc.collect()
        gc.freeze()
        young, middle, old = gc.get_threshold()
        gc.set_threshold(young * 10, middle, old)

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
        self._drain_task.add_done_callback(
            lambda _: super(DrainingServer, self).handle_exit(sig, frame)
        )


def run(settings: Settings) -> None:
    node = Node(settings)
    config = uvicorn.Config(
        create_app(settings, node),
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        ws="websockets-sansio",
        ws_max_size=settings.max_message_bytes,
        ws_per_message_deflate=settings.ws_per_message_deflate,
        lifespan="on",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=int(settings.drain_seconds) + 5,
    )
    DrainingServer(config, node).run()
