"""``eventually()``: wait for a condition that another task or process makes true.

Tests of a distributed system observe effects that arrive later (a fan-out through Redis,
a room closing after its grace period). Polling with a deadline keeps such tests fast
when things are quick and bounded when they are not, and the failure says what was awaited.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable


async def eventually(
    check: Callable[[], object | Awaitable[object]],
    within: float = 10.0,
    *,
    interval: float = 0.02,
    what: str = "",
) -> None:
    """Return once ``check()`` is truthy (it may be a coroutine function); raise
    AssertionError if it is still falsy after ``within`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            suffix = f": {what}" if what else ""
            raise AssertionError(f"condition not reached within {within:g}s{suffix}")
        await asyncio.sleep(interval)
