"""Which agents exist: the built-ins plus any registered under the ``draftroom.agents``
entry-point group.

A third-party package adds an agent without forking Draftroom:

    [project.entry-points."draftroom.agents"]
    tone = "my_package.agents:ToneAgent"     # a class (instantiated) or an instance

The built-ins are listed here once, in ``BUILTINS``, and not as entry points of our
own distribution: they are part of the package, so they must exist whether or not its
metadata is installed or current (a checkout run with ``PYTHONPATH``, an editable
install made before an agent was added). Entry points are for other distributions.

An entry point that fails to load or lacks the Agent attributes is logged and
skipped; it never stops the server. A later agent with a taken name replaces it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from draftroom.agents.base import Agent, AgentContext, BaseAgent
from draftroom.agents.builtin.outline import OutlineAgent
from draftroom.agents.builtin.readability import ReadabilityAgent
from draftroom.agents.builtin.style import StyleAgent
from draftroom.agents.llm.agents import BrainstormAgent, ContinueAgent, CritiqueAgent, RewriteAgent
from draftroom.plugins import entry_points

if TYPE_CHECKING:
    from draftroom.config import Settings

log = logging.getLogger(__name__)

GROUP = "draftroom.agents"
NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
_REQUIRED = ("name", "version", "description", "params_schema", "cache_input", "run")

BUILTINS: tuple[type[BaseAgent], ...] = (
    StyleAgent,
    ReadabilityAgent,
    OutlineAgent,
    ContinueAgent,
    RewriteAgent,
    CritiqueAgent,
    BrainstormAgent,
)


def load_agents() -> dict[str, Agent]:
    """The built-ins, then every entry point, each through ``register``."""
    agents: dict[str, Agent] = {}
    for cls in BUILTINS:
        register(agents, cls(), source=cls.__qualname__)
    for ep in entry_points(GROUP):
        try:
            loaded = ep.load()
            candidate = loaded() if isinstance(loaded, type) else loaded
        except Exception:
            log.exception("agent entry point %s could not be loaded; skipped", ep.value)
            continue
        register(agents, candidate, source=ep.value)
    return agents


def register(agents: dict[str, Agent], candidate: object, *, source: str = "") -> bool:
    """Add one agent to ``agents``; the entry-point loader calls this for each entry point.

    Returns False, logging why, for an object that is not an agent.
    """
    problem = _problem(candidate)
    if problem:
        log.error("agent %s skipped: %s", source or repr(candidate), problem)
        return False
    agent = candidate if isinstance(candidate, BaseAgent) else PluginAgent(candidate)
    existing = agents.get(agent.name)
    if existing is not None and _origin(existing) is not _origin(agent):
        log.warning("agent %r from %s replaces an earlier one", agent.name, source)
    agents[agent.name] = agent
    return True


def _origin(agent: Agent) -> type:
    return type(agent.inner) if isinstance(agent, PluginAgent) else type(agent)


def _problem(candidate: object) -> str | None:
    missing = [a for a in _REQUIRED if not hasattr(candidate, a)]
    if missing:
        return f"missing {', '.join(missing)}"
    if not NAME_RE.match(str(getattr(candidate, "name", ""))):
        return "name must match [a-z][a-z0-9_-]{0,63}"
    return None


class PluginAgent(BaseAgent):
    """A duck-typed plugin agent with ``BaseAgent``'s defaults for what it leaves out.

    Wrapping, not patching: the plugin's own object is never modified.
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.version = inner.version
        self.description = inner.description
        self.params_schema = inner.params_schema
        self.cache_ttl = getattr(inner, "cache_ttl", BaseAgent.cache_ttl)
        self.uses_llm = getattr(inner, "uses_llm", BaseAgent.uses_llm)
        self.applicable = getattr(inner, "applicable", BaseAgent.applicable)

    def unavailable_reason(self, settings: Settings) -> str | None:
        own = getattr(self.inner, "unavailable_reason", None)
        return None if own is None else own(settings)

    def cache_input(self, ctx: AgentContext) -> str:
        return str(self.inner.cache_input(ctx))

    def run(self, ctx: AgentContext) -> AsyncIterator[dict[str, Any]]:
        result: AsyncIterator[dict[str, Any]] = self.inner.run(ctx)
        return result

    def cache_params(self, params: dict[str, Any]) -> dict[str, Any]:
        own = getattr(self.inner, "cache_params", None)
        return params if own is None else dict(own(params))

    def view(
        self, chunks: AsyncIterator[dict[str, Any]], ctx: AgentContext
    ) -> AsyncIterator[dict[str, Any]]:
        own = getattr(self.inner, "view", None)
        return chunks if own is None else own(chunks, ctx)
