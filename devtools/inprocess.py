"""An in-process Draftroom server on a free loopback port, for fast tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import uvicorn

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
    server = uvicorn.Server(config)
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
        server.should_exit = True
        server.force_exit = force_exit
        await asyncio.wait_for(task, stop_within)


class _NoSignals:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *args: object) -> None:
        return None


def _no_signals() -> _NoSignals:
    return _NoSignals()
