"""Single-flight: identical requests in progress share one computation.

The first request for a key starts the computation in its own task; later identical
requests follow it, receiving every chunk produced so far and then the rest as they
come. When the last follower goes away (all requesters disconnected), the computation
is cancelled, which closes an LLM stream and stops its cost.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

from draftroom.agents.base import AgentError

Producer = Callable[[], AsyncIterator[dict[str, Any]]]


class Flight:
    def __init__(self) -> None:
        self.chunks: list[dict[str, Any]] = []
        self.done = False
        self.error: BaseException | None = None
        self.followers = 0
        self.task: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()

    def _notify(self) -> None:
        # A fresh event per change: every waiter wakes once, none misses a change.
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def run(self, producer: Producer) -> None:
        try:
            async for chunk in producer():
                self.chunks.append(chunk)
                self._notify()
        except asyncio.CancelledError:
            self.error = asyncio.CancelledError()
            raise
        except BaseException as exc:
            self.error = exc
        finally:
            self.done = True
            self._notify()

    async def follow(self) -> AsyncIterator[dict[str, Any]]:
        self.followers += 1
        try:
            sent = 0
            while True:
                while sent < len(self.chunks):
                    sent += 1
                    yield self.chunks[sent - 1]
                if self.done:
                    if isinstance(self.error, asyncio.CancelledError):
                        raise AgentError(
                            "the computation was cancelled", code="cancelled", status=503
                        )
                    if self.error is not None:
                        raise self.error
                    return
                await self._changed.wait()
        finally:
            self.followers -= 1
            if self.followers == 0 and not self.done and self.task is not None:
                self.task.cancel()


class SingleFlight:
    def __init__(self) -> None:
        self.flights: dict[str, Flight] = {}
        self.started = 0  # computations actually run (for status, tests, benchmarks)

    def running(self, key: str) -> bool:
        flight = self.flights.get(key)
        return flight is not None and not flight.done

    def join(self, key: str, producer: Producer) -> tuple[Flight, bool]:
        """The flight for ``key`` and whether this call started it."""
        flight = self.flights.get(key)
        if flight is not None and not flight.done:
            return flight, False
        flight = Flight()
        self.flights[key] = flight
        self.started += 1
        flight.task = asyncio.get_running_loop().create_task(flight.run(producer))
        flight.task.add_done_callback(lambda _: self._finished(key, flight))
        return flight, True

    def _finished(self, key: str, flight: Flight) -> None:
        if self.flights.get(key) is flight:
            del self.flights[key]

    async def close(self) -> None:
        tasks = [f.task for f in self.flights.values() if f.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
