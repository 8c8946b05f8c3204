"""One agent invocation, end to end.

    prepare:  find the agent, check its parameters and the selection, read the document
              (the live room if open, else the store), build the cache key, look it up;
              on a miss of an LLM agent, check the requester's daily budget.
    stream:   broadcast agent.start, then agent.chunk for each chunk (from the cache, or
              from the single-flight computation), then agent.done or agent.error, to
              every collaborator of the document on every node; yield the same events
              to the requester (the HTTP response streams them).

Errors found while preparing are the requester's alone (an HTTP error, or an error
app message to the one WebSocket client); errors after agent.start are broadcast.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from draftroom.admission import AdmissionControl, Pressure, Work
from draftroom.agents import params as agent_params
from draftroom.agents.base import (
    SYSTEM,
    Agent,
    AgentContext,
    AgentError,
    Requester,
    Selection,
)
from draftroom.agents.cache.db_store import DatabaseStore
from draftroom.agents.cache.keys import EntryKey, make_key
from draftroom.agents.cache.redis_store import RedisStore
from draftroom.agents.cache.tiered import ReplyCache
from draftroom.agents.cpu import CpuPool
from draftroom.agents.editor import AppliedEdit, Editor
from draftroom.agents.flights import SingleFlight
from draftroom.agents.llm.client import LLMClient
from draftroom.agents.prices import PriceTable
from draftroom.agents.registry import load_agents
from draftroom.agents.room_texts import RoomTexts
from draftroom.agents.tokens import TokenCounter
from draftroom.agents.usage import UsageLog
from draftroom.agents.warmer import Warmer
from draftroom.document.load import load_doc
from draftroom.document.text import DocumentText, read_text
from draftroom.errors import Overloaded
from draftroom.features import BaseFeature, ControlHandler
from draftroom.redis import RedisLink
from draftroom.telemetry import metrics

if TYPE_CHECKING:
    from draftroom.analytics.recorder import Analytics
    from draftroom.crdt.room import Room
    from draftroom.node import Node

log = logging.getLogger(__name__)

INVALIDATE = "agent.cache.invalidate"
MAX_REQUEST_ID = 100
# A node computing a reply holds a claim this long, renewed while it runs; if the node
# dies, others wait at most this long before computing the reply themselves.
CLAIM_LEASE = 10.0


@dataclass(slots=True)
class Invocation:
    doc_id: str
    agent: str
    requester: Requester
    params: Any = None
    selection: Selection | None = None
    apply: bool = False
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)


@dataclass(slots=True)
class Prepared:
    invocation: Invocation
    agent: Agent
    ctx: AgentContext  # what the agent computes from (its cache parameters only)
    view: AgentContext  # what the requester asked for (all parameters)
    key: EntryKey
    cached: list[dict[str, Any]] | None
    joined: bool = False  # an identical computation was already running

    @property
    def source(self) -> str:
        """hit (a stored reply), joined (an identical computation in progress), miss."""
        return "hit" if self.cached is not None else "joined" if self.joined else "miss"


class AgentService(BaseFeature):
    def __init__(self, node: Node, redis: RedisLink, analytics: Analytics | None = None) -> None:
        """``redis``: the node's request-path link (shared; its owner closes it)."""
        settings = node.settings
        self.node = node
        self.analytics = analytics
        self.settings = settings
        self.agents = load_agents()
        tokens = TokenCounter(settings.agent_tokenizer_file)
        self.llm = LLMClient(settings, tokens) if settings.llm_base_url else None
        shared = (
            RedisStore(redis, settings.agent_cache_redis_timeout_ms / 1000)
            if redis.client is not None
            else None
        )
        self.cache = ReplyCache(
            redis=shared,
            database=DatabaseStore(node.store.sql) if shared is not None else None,
            memory_entries=settings.agent_cache_memory_entries,
            max_entry_bytes=settings.agent_cache_max_entry_bytes,
        )
        self.usage = UsageLog(
            node.store.sql,
            PriceTable.parse(settings.agent_prices),
            settings.agent_daily_budget_usd,
        )
        self.flights = SingleFlight()
        self.cpu = CpuPool(settings.agent_workers)
        self.editor = Editor(node.rooms, node.store.sql)
        self.texts = RoomTexts()
        self.warmer = Warmer(
            node.rooms.get,
            self._recompute,
            self._warming_waits,
            window=settings.agent_warm_window_seconds,
            interval=settings.agent_warm_interval_seconds,
        )
        self._tasks: set[asyncio.Task[None]] = set()

    # -- feature hooks ----------------------------------------------------------------

    def control_handlers(self) -> Mapping[str, ControlHandler]:
        return {INVALIDATE: self.on_invalidate}

    def on_room_advance(self, room: Room) -> None:
        self.warmer.advanced(room)

    # -- lifecycle --------------------------------------------------------------------

    async def start(self) -> None:
        self.cpu.start()
        self.spawn(self._purge_loop())
        if self.warmer.enabled:
            self.spawn(self.warmer.run())

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.flights.close()
        self.cpu.close()
        if self.llm is not None:
            await self.llm.close()

    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _purge_loop(self) -> None:
        while True:
            await asyncio.sleep(300)
            if self.cache.database is not None:
                try:
                    await self.cache.database.purge_expired()
                except Exception:
                    log.exception("purging expired agent cache rows failed")

    # -- listing ----------------------------------------------------------------------

    def describe(self) -> list[dict[str, Any]]:
        out = []
        for agent in sorted(self.agents.values(), key=lambda a: a.name):
            reason = agent.unavailable_reason(self.settings)
            out.append(
                {
                    "name": agent.name,
                    "version": agent.version,
                    "description": agent.description,
                    "params": agent.params_schema,
                    "uses_llm": agent.uses_llm,
                    "applicable": agent.applicable,
                    "available": reason is None,
                    "unavailable_reason": reason,
                }
            )
        return out

    # -- invocation -------------------------------------------------------------------

    async def prepare(self, inv: Invocation) -> Prepared:
        self._admit()
        agent = self.agents.get(inv.agent)
        if agent is None:
            raise AgentError(f"no agent named {inv.agent[:64]!r}", code="unknown_agent", status=404)
        reason = agent.unavailable_reason(self.settings)
        if reason is not None:
            raise AgentError(reason, code="agent_unavailable", status=503)
        if inv.apply and not agent.applicable:
            raise AgentError(f"{agent.name} replies cannot be applied", code="not_applicable")
        params = agent_params.normalize(agent.params_schema, inv.params)
        document = await self.read_document(inv.doc_id)
        selection = inv.selection
        if selection is not None and not 0 <= selection.start <= selection.end <= len(
            document.text
        ):
            raise AgentError("selection is outside the document text", code="invalid_selection")
        view, ctx, key = self.contexts(
            agent, inv.doc_id, document, params, inv.requester, selection
        )
        cached = await self.cache.get(key) if self.ttl(agent) > 0 else None
        (metrics.cache_hit if cached is not None else metrics.cache_miss)("agent")
        if selection is None and self.ttl(agent) > 0:
            self.warmer.asked(inv.doc_id, agent, ctx.params, key)
        if self.analytics is not None:
            self.analytics.record("agent.used", inv.requester.id, inv.doc_id, label=agent.name)
        if cached is None and agent.uses_llm:
            await self.usage.check_budget(inv.requester)
        joined = cached is None and (
            self.flights.running(key.digest)
            or (self.ttl(agent) > 0 and await self.cache.claimed(key))
        )
        return Prepared(inv, agent, ctx, view, key, cached, joined)

    def _warming_waits(self) -> bool:
        """Warm passes are agent work nobody asked for yet: they wait while every worker
        is taken and while the node sheds deferrable work, so writers come first."""
        if self.cpu.busy:
            return True
        admission = self.node.optional(AdmissionControl)
        return admission is not None and admission.pressure() >= Pressure.SHEDDING

    def _admit(self) -> None:
        """Under pressure agent calls wait their turn (HTTP ones are refused at the edge;
        this covers ``agent.invoke`` over a socket)."""
        admission = self.node.optional(AdmissionControl)
        if admission is None:
            return
        try:
            admission.check(Work.DEFERRABLE, "agent")
        except Overloaded as exc:
            error = AgentError(exc.message, code=exc.code, status=exc.status)
            error.headers.update(exc.headers)
            raise error from None

    def contexts(
        self,
        agent: Agent,
        doc_id: str,
        document: DocumentText,
        params: dict[str, Any],
        requester: Requester,
        selection: Selection | None,
    ) -> tuple[AgentContext, AgentContext, EntryKey]:
        """The requester's context, the one the agent computes from, and its cache key.

        The key covers only what the computation depends on (its cache parameters),
        so requests differing in parameters that merely shape the view share it.
        """
        llm = self.llm if agent.uses_llm else None
        view = AgentContext(doc_id, document, params, requester, selection, llm, self.cpu)
        shared = dict(agent.cache_params(params))
        ctx = AgentContext(doc_id, document, shared, requester, selection, llm, self.cpu)
        key = make_key(
            agent=agent.name,
            version=agent.version,
            model=self.settings.llm_model if agent.uses_llm else "",
            params=shared,
            context=agent.cache_input(ctx),
            doc_id=doc_id,
        )
        return view, ctx, key

    async def read_document(self, doc_id: str) -> DocumentText:
        room = self.node.rooms.get(doc_id)
        if room is not None and not room.closed:
            return self.texts.of(room)
        if await self.node.store.get_document(doc_id) is None:
            raise AgentError("no such document", code="not_found", status=404)
        return read_text((await load_doc(self.node.store, doc_id)).doc)

    async def stream(self, prepared: Prepared) -> AsyncIterator[dict[str, Any]]:
        """Run a prepared invocation; broadcast and yield its events."""
        inv, agent = prepared.invocation, prepared.agent
        tag = {
            "request": inv.request_id,
            "agent": agent.name,
            "requester": inv.requester.to_json(),
            "doc": inv.doc_id,
        }
        cached = prepared.cached is not None
        seq = 0
        finished = False
        editing = (
            await self.editor.begin(inv.doc_id, agent.name, inv.requester) if inv.apply else None
        )
        try:
            start = {"type": "agent.start", **tag, "cached": cached, "source": prepared.source}
            yield self._emit(inv.doc_id, start)
            texts: list[str] = []
            async for chunk in agent.view(self._chunks(prepared), prepared.view):
                seq += 1
                if isinstance(chunk.get("text"), str):
                    texts.append(chunk["text"])
                yield self._emit(
                    inv.doc_id, {"type": "agent.chunk", **tag, "seq": seq, "data": chunk}
                )
            applied: AppliedEdit | None = None
            if editing is not None:
                room, peer = editing
                original = prepared.view.input_text if inv.selection else None
                applied = await self.editor.apply(
                    room, peer, "".join(texts), inv.selection, inv.request_id, original
                )
            done: dict[str, Any] = {"type": "agent.done", **tag, "chunks": seq, "cached": cached}
            if applied is not None:
                done["applied"] = applied.to_json()
            finished = True
            yield self._emit(inv.doc_id, done)
        except AgentError as exc:
            finished = True
            yield self._emit(
                inv.doc_id, {"type": "agent.error", **tag, "code": exc.code, "message": exc.message}
            )
        except Exception:
            finished = True
            log.exception("agent %s failed on %s", agent.name, inv.doc_id)
            yield self._emit(
                inv.doc_id,
                {"type": "agent.error", **tag, "code": "agent_failed", "message": "agent failed"},
            )
        finally:
            if not finished:  # the requester went away mid-reply
                self._emit(
                    inv.doc_id,
                    {"type": "agent.error", **tag, "code": "cancelled", "message": "cancelled"},
                )
            if editing is not None:
                self.editor.end(*editing)

    def _emit(self, doc_id: str, event: dict[str, Any]) -> dict[str, Any]:
        self.node.broadcast_app(doc_id, event)
        return event

    def ttl(self, agent: Agent) -> float:
        return self.settings.agent_cache_ttl_seconds if agent.cache_ttl is None else agent.cache_ttl

    def _chunks(self, prepared: Prepared) -> AsyncIterator[dict[str, Any]]:
        if prepared.cached is not None:
            return _replay(prepared.cached)
        return self.follow(prepared)

    def background(self, agent: Agent, ctx: AgentContext, key: EntryKey) -> Prepared:
        """A computation nobody is waiting for yet (see ``Warmer``)."""
        inv = Invocation(ctx.doc_id, agent.name, SYSTEM, ctx.params)
        return Prepared(inv, agent, ctx, ctx, key, None)

    def _recompute(
        self, doc_id: str, room: Room, name: str, params: dict[str, Any], digest: str
    ) -> tuple[str, Awaitable[None]] | None:
        """The ``Warmer``'s ``recompute``: cache the reply to the room's current text,
        unless ``digest`` is already that reply's."""
        agent = self.agents.get(name)
        if agent is None:
            return None
        document = self.texts.of(room)
        _, ctx, key = self.contexts(agent, doc_id, document, params, SYSTEM, None)
        if key.digest == digest:
            return None
        return key.digest, _drain(self.follow(self.background(agent, ctx, key)))

    def follow(self, prepared: Prepared) -> AsyncIterator[dict[str, Any]]:
        """The computed chunks: from the identical computation in progress, or a new one."""
        flight, _ = self.flights.join(prepared.key.digest, lambda: self._computed(prepared))
        return flight.follow()

    async def _computed(self, prepared: Prepared) -> AsyncIterator[dict[str, Any]]:
        """Single-flight across nodes: compute here, unless another node already is;
        then its reply is read from the shared cache once it lands there (this node's
        collaborators watch it stream meanwhile, through the bus)."""
        key = prepared.key
        if self.ttl(prepared.agent) <= 0:  # nothing would land in the cache to share
            async for chunk in self._compute(prepared):
                yield chunk
            return
        owner = f"{self.node.node_id}:{prepared.invocation.request_id}"
        if not await self.cache.claim(key, owner, CLAIM_LEASE):
            chunks = await self._from_other_node(key)
            if chunks is not None:
                for chunk in chunks:
                    yield chunk
                return
            # It gave up (cancelled, failed, reply too large to cache) or went silent.
            await self.cache.claim(key, owner, CLAIM_LEASE)
        renewing = asyncio.get_running_loop().create_task(self._renew(key, owner))
        try:
            async for chunk in self._compute(prepared):
                yield chunk
        finally:
            renewing.cancel()
            await self.cache.release(key, owner)

    async def _renew(self, key: EntryKey, owner: str) -> None:
        while True:
            await asyncio.sleep(CLAIM_LEASE / 3)
            await self.cache.renew(key, owner, CLAIM_LEASE)

    async def _from_other_node(self, key: EntryKey) -> list[dict[str, Any]] | None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.llm_timeout_seconds * (self.settings.llm_retries + 2)
        delay = 0.01
        while loop.time() < deadline:
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 0.2)
            chunks = await self.cache.peek(key)
            if chunks is not None:
                return chunks
            if not await self.cache.claimed(key):
                return await self.cache.peek(key)  # it may have landed just before
        return None

    async def _compute(self, prepared: Prepared) -> AsyncIterator[dict[str, Any]]:
        """The one computation behind a flight: run, then cache and bill the result."""
        inv, agent, ctx = prepared.invocation, prepared.agent, prepared.ctx
        chunks: list[dict[str, Any]] = []
        started = time.perf_counter()
        failure: str | None = None
        try:
            async for chunk in agent.run(ctx):
                chunks.append(chunk)
                yield chunk
        except BaseException as exc:
            failure = type(exc).__name__
            raise
        finally:
            seconds = time.perf_counter() - started
            for usage in ctx.usage:
                try:
                    cost = await self.usage.record(
                        inv.request_id, inv.requester, inv.doc_id, agent.name, usage
                    )
                    metrics.agent_call(
                        agent.name,
                        usage.model,
                        seconds,
                        usage.prompt_tokens,
                        usage.completion_tokens,
                        cost,
                        failure,
                    )
                except Exception:
                    log.exception("recording agent usage failed")
            if not ctx.usage:  # an offline agent: latency only
                metrics.agent_call(agent.name, "", seconds, 0, 0, 0.0, failure)
        try:
            await self.cache.put(prepared.key, chunks, self.ttl(agent))
        except Exception:  # e.g. a third-party agent's chunk msgpack cannot encode
            log.exception("caching the reply of agent %s failed", agent.name)

    # -- operators --------------------------------------------------------------------

    async def invalidate(self, agent: str | None, doc_id: str | None) -> int:
        removed = await self.cache.invalidate_shared(agent, doc_id)
        removed += self.cache.invalidate_local(agent, doc_id)
        # Every other node's in-memory entries (here it finds nothing left).
        self.node.broadcast_control({"type": INVALIDATE, "agent": agent, "doc": doc_id})
        return removed

    def on_invalidate(self, data: dict[str, Any]) -> None:
        self.cache.invalidate_local(data.get("agent"), data.get("doc"))


async def _drain(chunks: AsyncIterator[dict[str, Any]]) -> None:
    async for _ in chunks:
        pass


async def _replay(chunks: list[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    for chunk in chunks:
        yield chunk
