"""What an agent is: a named, versioned async generator of reply chunks.

A third-party agent subclasses ``BaseAgent`` (or is any object with the ``Agent``
attributes; the registry gives it ``BaseAgent``'s defaults for what it leaves out);
register it under the ``draftroom.agents`` entry-point group and Draftroom lists and
runs it. ``ChatModel`` is all an agent sees of the LLM endpoint.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from draftroom.document.text import DocumentText
from draftroom.errors import Invalid

T = TypeVar("T")

if TYPE_CHECKING:
    from draftroom.agents.cpu import CpuPool
    from draftroom.config import Settings


class AgentError(Invalid):
    """A failure an agent reports to the requester, with a stable code.

    One type for every agent failure (plugins raise it too); ``status`` says how
    HTTP shows it: 422 by default, 404/409/503 where the cause is that.
    """

    def __init__(self, message: str, *, code: str = "agent_error", status: int = 422) -> None:
        super().__init__(message, code=code)
        self.status = status


@dataclass(frozen=True, slots=True)
class Requester:
    id: str
    name: str

    def to_json(self) -> dict[str, str]:
        return {"id": self.id, "name": self.name}


ANONYMOUS = Requester("anonymous", "Anonymous")
SYSTEM = Requester("draftroom", "Draftroom")  # the server's own work (keeping replies warm)


@dataclass(frozen=True, slots=True)
class Selection:
    """A range of the document's plain text (character offsets, end exclusive)."""

    start: int
    end: int


@dataclass(slots=True)
class AgentContext:
    doc_id: str
    document: DocumentText
    params: dict[str, Any]
    requester: Requester
    selection: Selection | None = None
    llm: ChatModel | None = None
    cpu: CpuPool | None = None  # for CPU-heavy work: see ``offload``
    # Token usage an LLM agent reports, for cost accounting (one entry per model call).
    usage: list[Usage] = field(default_factory=list)

    async def offload(self, fn: Callable[..., T], *args: Any) -> T:
        """Run CPU-heavy ``fn(*args)`` off the event loop (a worker process when the
        server has them; ``fn`` and its arguments must then be picklable)."""
        if self.cpu is None:
            return await asyncio.to_thread(fn, *args)
        return await self.cpu.run(fn, *args)

    @property
    def input_text(self) -> str:
        """The text the agent reads: the selection if there is one, else everything."""
        if self.selection is None:
            return self.document.text
        return self.document.text[self.selection.start : self.selection.end]


@dataclass(frozen=True, slots=True)
class Usage:
    model: str
    prompt_tokens: int
    completion_tokens: int
    estimated: bool  # counted by us, not reported by the provider


class ChatModel(Protocol):
    """A streaming chat model (``llm.client.LLMClient`` speaks OpenAI's API)."""

    model: str  # part of an LLM agent's cache key and of its usage records

    def stream(
        self,
        messages: list[dict[str, str]],
        usage: list[Usage],
        *,
        max_tokens: int | None = None,
        temperature: float = 0.7,
    ) -> AsyncIterator[str]:
        """Yield text deltas; append the call's token usage to ``usage`` at the end."""
        ...


class Agent(Protocol):
    name: str
    version: str  # bump when the output for the same input changes: old cache entries die
    description: str
    params_schema: dict[str, Any]  # JSON Schema of the parameters
    # Seconds a cached reply lives; None: the server default. 0: never cached.
    cache_ttl: float | None
    # True when the agent calls an LLM (then the model is part of the cache key, and its
    # cost is recorded and budgeted).
    uses_llm: bool
    # Whether a finished reply can be applied into the document as an edit.
    applicable: bool

    def unavailable_reason(self, settings: Settings) -> str | None:
        """None when the agent can run with these settings, else why not."""
        ...

    def cache_input(self, ctx: AgentContext) -> str:
        """The exact context the reply depends on (hashed into the cache key)."""
        ...

    def run(self, ctx: AgentContext) -> AsyncIterator[dict[str, Any]]:
        """Yield reply chunks: small JSON-able maps, sent to collaborators as they come."""
        ...

    def cache_params(self, params: dict[str, Any]) -> dict[str, Any]:
        """The parameters ``run`` depends on; ``run`` then sees only these.

        An agent whose parameters only shape what is shown (a limit, a filter,
        offsets) computes one reply for all their values, and the cache keeps that one.
        """
        ...

    def view(
        self, chunks: AsyncIterator[dict[str, Any]], ctx: AgentContext
    ) -> AsyncIterator[dict[str, Any]]:
        """The requester's reply (``ctx.params`` in full) from the computed chunks."""
        ...


class BaseAgent:
    """The ``Agent`` defaults: subclass it and set the attributes, ``cache_input`` and ``run``."""

    name = ""
    version = "1"
    description = ""
    params_schema: dict[str, Any] = {"type": "object", "properties": {}}
    cache_ttl: float | None = None
    uses_llm = False
    applicable = False

    def unavailable_reason(self, settings: Settings) -> str | None:
        return None

    def cache_input(self, ctx: AgentContext) -> str:
        raise NotImplementedError

    def run(self, ctx: AgentContext) -> AsyncIterator[dict[str, Any]]:
        raise NotImplementedError

    def cache_params(self, params: dict[str, Any]) -> dict[str, Any]:
        return params

    def view(
        self, chunks: AsyncIterator[dict[str, Any]], ctx: AgentContext
    ) -> AsyncIterator[dict[str, Any]]:
        return chunks
