"""Where CPU-heavy agent work runs: worker processes, so the event loop stays free.

Linting a 100,000-word novel holds the GIL for about half a second. In a thread that
would stall every WebSocket and every cache hit on the node meanwhile (cached replies
must answer in a few milliseconds), so by default one worker process does it
(``--agent-workers``; 0 runs the work in a thread instead, for small setups and tests).
Workers start from a forkserver and load the rule sets once.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


def _warm(server_pid: int) -> None:
    """Worker process initializer: end with the server, and load the rule sets once."""
    from draftroom.agents.builtin.readability_scores import prepare
    from draftroom.worker_exit import tie_to_parent

    tie_to_parent(server_pid)
    from draftroom.agents.builtin.style_checks import lint

    prepare()
    lint("warm up")


class CpuPool:
    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None
        self.in_flight = 0

    @property
    def busy(self) -> bool:
        """Every worker has a job: optional work (keeping replies warm) waits."""
        return self.in_flight >= max(self.workers, 1)

    def start(self) -> None:
        if self.workers > 0 and self._pool is None:
            context = multiprocessing.get_context("forkserver")
            self._pool = ProcessPoolExecutor(
                self.workers, mp_context=context, initializer=_warm, initargs=(os.getpid(),)
            )

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        self.in_flight += 1
        try:
            return await self._run(fn, *args)
        finally:
            self.in_flight -= 1

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        if self._pool is None:
            return await asyncio.to_thread(fn, *args)
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._pool, fn, *args)
        except BrokenProcessPool:
            # A worker died (killed, out of memory): replace the pool and retry once.
            log.error("agent worker process died; restarting the pool")
            self.close()
            self.start()
            assert self._pool is not None
            return await loop.run_in_executor(self._pool, fn, *args)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
