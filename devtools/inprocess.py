"""An in-process Draftroom server on a free loopback port, for fast tests."""

from __future__ import annotations

import asyncio
import contextlib
import math
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import uvicorn

from devtools.waiting import eventually
from draftroom.config import Settings
from draftroom.node import Node
from draftroom.server.app import create_app
from draftroom.server.runner import proxy_options


@dataclass
class RunningServer:
    hub: Node
    port: int

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ws(self, doc_id: str) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/{doc_id}"


def make_settings(data_dir: Path, database_url: str | None = None, **overrides: object) -> Settings:
    base = Settings(
        host="127.0.0.1",
        port=0,
        data_dir=data_dir,
        database_url=database_url,
        room_grace_seconds=0.2,
        log_format="text",
        allow_anonymous=True,  # auth tests turn it off
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


@asynccontextmanager
async def running_server(settings: Settings) -> AsyncIterator[RunningServer]:
    hub = Node(settings)
    config = uvicorn.Config(
        create_app(settings, hub),
        host="127.0.0.1",
        port=0,
        ws="websockets-sansio",
        ws_max_size=settings.max_message_bytes,
        ws_per_message_deflate=False,
        lifespan="on",
        log_config=None,
        access_log=False,
        **proxy_options(settings),
    )
    async with serving(config) as port:
        yield RunningServer(hub, port)


@asynccontextmanager
async def serving(
    config: uvicorn.Config, stop_within: float = 30, force_exit: bool = False
) -> AsyncIterator[int]:
    """Run a uvicorn server in this event loop; yields the port it listens on.

    ``force_exit`` stops without waiting for open requests (a fake that hangs on purpose).
    """
    server = _QuickServer(config)
    # Tests own the signal handlers; the server must not take them.
    server.capture_signals = _no_signals  # type: ignore[method-assign,assignment]
    task = asyncio.get_running_loop().create_task(server.serve())
    for _ in range(500):
        if server.started or task.done():
            break
        await asyncio.sleep(0.01)
    if task.done():
        task.result()
    try:
        yield server.servers[0].sockets[0].getsockname()[1]
    finally:
        server.force_exit = force_exit
        server.stop()
        await asyncio.wait_for(task, stop_within)


class _QuickServer(uvicorn.Server):
    """A uvicorn server that stops as soon as it is asked to.

    uvicorn notices ``should_exit`` on a 0.1 s tick, sleeps another 0.1 s after asking
    its connections to close, and then checks on them every 0.1 s. The suite starts a
    few hundred servers, so that idling added up to about a minute. Here a stop wakes
    the main loop at once and connections and tasks are checked every 10 ms; the steps
    and their order are uvicorn's own (0.54).
    """

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._stop_requested = asyncio.Event()

    def stop(self) -> None:
        self.should_exit = True
        self._stop_requested.set()

    async def main_loop(self) -> None:
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + 1) % 864000
            # The tick still runs every 0.1 s: it keeps the Date header current.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.1):
                    await self._stop_requested.wait()
            should_exit = await self.on_tick(counter)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        state = self.server_state
        await eventually(lambda: self.force_exit or not state.connections, math.inf, interval=0.01)
        await eventually(lambda: self.force_exit or not state.tasks, math.inf, interval=0.01)
        for server in self.servers:
            await server.wait_closed()
        if not self.force_exit:
            await self.lifespan.shutdown()


class _NoSignals:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *args: object) -> None:
        return None


def _no_signals() -> _NoSignals:
    return _NoSignals()
