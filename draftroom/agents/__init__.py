"""Writing agents: style, readability, outline and LLM helpers whose replies stream to
every collaborator of a document, cached so unchanged text is answered at once.

See docs/AGENTS.md. The moving parts, one per module:

    base.py        the Agent contract and BaseAgent's defaults, ChatModel, AgentContext
    registry.py    built-ins plus third-party agents from the ``draftroom.agents`` entry points
    room_texts.py  each open room's text, read once per change
    warmer.py      recomputes recently asked offline replies after an edit
    builtin/       offline agents (style, readability, outline)
    llm/           the OpenAI-compatible streaming client and the LLM agents
    cache/         reply cache: keys, Redis with a circuit breaker, DB fallback, LRU
    flights.py     single-flight: identical concurrent requests share one computation
    usage.py       token costs, the usage log and per-user daily budgets
    service.py     one invocation end to end: budget, cache, run, broadcast, record
    editor.py      the server-side peer that applies a reply as an attributable edit
"""
