"""Keeping replies warm: recompute recently asked offline replies after an edit.

A cache keyed by the exact text never serves a stale reply, but then the first
question after every edit is a miss. For the offline agents (style, readability,
outline) this node does what a live linter does: when a document it was asked about
changes, it recomputes those replies in the background, so the next question is a hit.

Bounds, so this never costs what it saves:
- only queries asked on this node within ``window`` seconds, whole-document only, for
  agents that call no LLM (recomputing those would spend money nobody asked to spend);
- only documents with a room open here (that is how an edit is seen: the room's
  version moves, for local and remote edits alike);
- per document at most one pass per ``interval`` seconds, and at most one per ten
  times its last pass took (a 100,000-word novel lints in ~0.5 s: one pass per 5 s
  while its writer types);
- only while an agent worker is free: requests always come first.

A pass that finds the text unchanged (a formatting-only edit) computes nothing, and
a computation already running for the same key (a request's) is joined, not repeated.

The warmer decides *when*; the service, through ``recompute``, decides *how* (the key
and the computation). It is handed those few callables, not the service.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from draftroom.agents.base import Agent
from draftroom.agents.cache.keys import EntryKey

if TYPE_CHECKING:
    from draftroom.crdt.room import Room

log = logging.getLogger(__name__)

BUSY_RETRY = 0.02  # seconds before looking again while warm passes must wait
IDLE_LOOK = 1.0  # a look this often even without a wake-up (a version moved unseen)
COST_FACTOR = 10  # a pass that took t seconds waits at least COST_FACTOR * t for the next
MAX_DOCUMENTS = 10_000
MAX_QUERIES = 16  # per document


# (doc id, room, agent name, cache parameters, digest of the reply last computed) ->
# None when that reply is still the current text's (or the agent is gone), else the
# current text's digest and the computation that caches its reply.
Recompute = Callable[[str, "Room", str, dict[str, Any], str], tuple[str, Awaitable[None]] | None]


@dataclass(slots=True)
class Query:
    agent: str
    params: dict[str, Any]  # the agent's cache parameters
    digest: str  # the key of the reply cached (or being computed) for the latest text
    asked: float  # monotonic time of the last request
    cost: float = 0.0  # seconds its last recomputation took


@dataclass(slots=True)
class Watched:
    queries: dict[str, Query] = field(default_factory=dict)
    version: int | None = None  # the room version the queries were last computed at
    due: float = 0.0  # monotonic time the next pass may start


class Warmer:
    def __init__(
        self,
        room: Callable[[str], Room | None],
        recompute: Recompute,
        busy: Callable[[], bool],
        *,
        window: float,
        interval: float,
    ) -> None:
        self.room = room  # the document's room open on this node, if any
        self.recompute = recompute
        self.busy = busy  # True while warm passes must wait (workers taken, node shedding)
        self.window = window
        self.interval = interval
        self.docs: dict[str, Watched] = {}
        self.passes = 0
        self.computed = 0  # replies recomputed ahead of a request
        self._wake = asyncio.Event()

    @property
    def enabled(self) -> bool:
        return self.window > 0

    def asked(self, doc_id: str, agent: Agent, params: dict[str, Any], key: EntryKey) -> None:
        """A request for a cached whole-document reply (its cache parameters and key)."""
        if not self.enabled or agent.uses_llm:
            return
        watched = self.docs.pop(doc_id, None) or Watched()
        self.docs[doc_id] = watched  # most recently asked last: evicted last
        if len(self.docs) > MAX_DOCUMENTS:
            del self.docs[next(iter(self.docs))]
        room = self.room(doc_id)
        if watched.version is None and room is not None:
            watched.version = room.version
        name = f"{agent.name}\x00{json.dumps(params, sort_keys=True)}"
        query = watched.queries.pop(name, None)
        cost = query.cost if query is not None else 0.0
        watched.queries[name] = Query(agent.name, params, key.digest, time.monotonic(), cost)
        if query is None and len(watched.queries) > MAX_QUERIES:
            del watched.queries[next(iter(watched.queries))]

    def advanced(self, room: Room) -> None:
        """A room's version moved (the service's on_room_advance hook)."""
        # On the edit path: a dict lookup, and the work happens in ``run``.
        if room.doc_id in self.docs:
            self._wake.set()

    async def run(self) -> None:
        wait = IDLE_LOOK
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), wait)
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                wait = await self._look()
            except Exception:
                log.exception("keeping agent replies warm failed")
                wait = IDLE_LOOK

    async def _look(self) -> float:
        """One pass over due documents; returns how long to wait before the next look."""
        wait = IDLE_LOOK
        now = time.monotonic()
        for doc_id in list(self.docs):
            watched = self.docs.get(doc_id)
            if watched is None:
                continue
            for name, query in list(watched.queries.items()):
                if now - query.asked > self.window:
                    del watched.queries[name]
            if not watched.queries:
                del self.docs[doc_id]
                continue
            room = self.room(doc_id)
            if room is None or room.closed or room.version == watched.version:
                continue
            if now < watched.due:
                wait = min(wait, watched.due - now)
                continue
            if self.busy():
                return BUSY_RETRY  # requests first
            started = time.monotonic()
            watched.version = room.version
            await self._pass(doc_id, room, watched)
            took = time.monotonic() - started
            watched.due = started + max(self.interval, COST_FACTOR * took)
            now = time.monotonic()
        return wait

    async def _pass(self, doc_id: str, room: Room, watched: Watched) -> None:
        self.passes += 1
        # Cheapest first: a quick reply (the outline) is not kept waiting behind a slow
        # one (a long style check), which is what minimises the misses meanwhile.
        for query in sorted(watched.queries.values(), key=lambda q: q.cost):
            due = self.recompute(doc_id, room, query.agent, query.params, query.digest)
            if due is None:
                continue  # this text's reply is cached already, or being computed
            query.digest, computation = due
            self.computed += 1
            started = time.monotonic()
            try:
                await computation
            except Exception as exc:  # the next request computes it and reports why
                log.info("warming %s on %s failed: %s", query.agent, doc_id, exc)
            query.cost = time.monotonic() - started
