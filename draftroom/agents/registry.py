"""Which agents exist: the built-ins plus any registered under the ``draftroom.agents``
entry-point group.

A third-party package adds an agent without forking Draftroom:

    [project.entry-points."draftroom.agents"]
    tone = "my_package.agents:ToneAgent"     # a class (instantiated) or an instance

An entry point that fails to load or lacks the Agent attributes is logged and
skipped; it never stops the server. A later agent with a built-in's name replaces it.
"""

from __future__ import annotations

import logging
import re
from importlib.metadata import entry_points

from draftroom.agents.base import Agent
from draftroom.agents.builtin.outline import OutlineAgent
from draftroom.agents.builtin.readability import ReadabilityAgent
from draftroom.agents.builtin.style import StyleAgent
from draftroom.agents.llm.agents import BrainstormAgent, ContinueAgent, CritiqueAgent, RewriteAgent

log = logging.getLogger(__name__)

GROUP = "draftroom.agents"
NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
_REQUIRED = ("name", "version", "description", "params_schema", "cache_input", "run")

# Registered directly too, so they exist before the package's entry points are installed.
BUILTINS: tuple[type, ...] = (
    StyleAgent,
    ReadabilityAgent,
    OutlineAgent,
    ContinueAgent,
    RewriteAgent,
    CritiqueAgent,
    BrainstormAgent,
)


def load_agents() -> dict[str, Agent]:
    agents: dict[str, Agent] = {}
    for cls in BUILTINS:
        agent: Agent = cls()
        agents[agent.name] = agent
    for ep in entry_points(group=GROUP):
        try:
            loaded = ep.load()
            candidate = loaded() if isinstance(loaded, type) else loaded
        except Exception:
            log.exception("agent entry point %s could not be loaded; skipped", ep.value)
            continue
        problem = _problem(candidate)
        if problem:
            log.error("agent entry point %s skipped: %s", ep.value, problem)
            continue
        existing = agents.get(candidate.name)
        if existing is not None and type(existing) is type(candidate):
            continue  # a built-in's own entry point
        agents[candidate.name] = _with_defaults(candidate)
    return agents


def _problem(candidate: object) -> str | None:
    missing = [a for a in _REQUIRED if not hasattr(candidate, a)]
    if missing:
        return f"missing {', '.join(missing)}"
    if not NAME_RE.match(str(getattr(candidate, "name", ""))):
        return "name must match [a-z][a-z0-9_-]{0,63}"
    return None


def _with_defaults(agent: Agent) -> Agent:
    """Optional attributes a third-party agent may leave out."""
    for attr, default in (("cache_ttl", None), ("uses_llm", False), ("applicable", False)):
        if not hasattr(agent, attr):
            setattr(agent, attr, default)
    if not hasattr(agent, "unavailable_reason"):
        agent.unavailable_reason = lambda settings: None  # type: ignore[method-assign]
    return agent
