"""The LLM agents: continue, rewrite, critique, brainstorm.

Each builds chat messages from the document and streams the model's reply. The cache
key hashes those exact messages together with the model, so any edit that changes
what the model would read changes the key.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from draftroom.agents.base import AgentContext, AgentError, BaseAgent
from draftroom.config import Settings

# Enough context for a useful reply while keeping each call's cost bounded.
CONTEXT_CHARS = 24_000
TAIL_CHARS = 8_000

_SYSTEM = (
    "You are a writing assistant inside a collaborative editor. Answer with the requested "
    "text only: no preamble, no markdown fences."
)


class LLMAgent(BaseAgent):
    uses_llm = True

    def unavailable_reason(self, settings: Settings) -> str | None:
        if not settings.llm_base_url:
            return "no LLM endpoint configured: set --llm-base-url (DRAFTROOM_LLM_BASE_URL)"
        return None

    def messages(self, ctx: AgentContext) -> list[dict[str, str]]:
        raise NotImplementedError

    def cache_input(self, ctx: AgentContext) -> str:
        return json.dumps(self.messages(ctx), ensure_ascii=False, separators=(",", ":"))

    async def run(self, ctx: AgentContext) -> AsyncIterator[dict[str, Any]]:
        if ctx.llm is None:
            raise AgentError("no LLM endpoint configured", code="agent_unavailable", status=503)
        async for delta in ctx.llm.stream(self.messages(ctx), ctx.usage):
            yield {"text": delta}


def _chat(instruction: str, text: str) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": _SYSTEM},
        {"role": "user", "content": f"{instruction}\n\n---\n{text}"},
    ]


class ContinueAgent(LLMAgent):
    name = "continue"
    description = "Continue the scene from where the text (or selection) ends."
    applicable = True
    params_schema = {
        "type": "object",
        "properties": {"guidance": {"type": "string", "default": "", "maxLength": 2000}},
    }

    def messages(self, ctx: AgentContext) -> list[dict[str, str]]:
        guidance = ctx.params["guidance"]
        instruction = "Continue this scene in the same voice, for a paragraph or two."
        if guidance:
            instruction += f" Guidance from the writer: {guidance}"
        return _chat(instruction, ctx.input_text[-TAIL_CHARS:])


class RewriteAgent(LLMAgent):
    name = "rewrite"
    description = "Rewrite the selection, optionally in a given style."
    applicable = True
    params_schema = {
        "type": "object",
        "properties": {"style": {"type": "string", "default": "clearer", "maxLength": 500}},
    }

    def messages(self, ctx: AgentContext) -> list[dict[str, str]]:
        if ctx.selection is None:
            raise AgentError("rewrite needs a selection", code="selection_required")
        instruction = f"Rewrite this passage ({ctx.params['style']}), keeping its meaning."
        return _chat(instruction, ctx.input_text[:CONTEXT_CHARS])


class CritiqueAgent(LLMAgent):
    name = "critique"
    description = "An editor's critique of the chapter or selection: pacing, voice, clarity."

    def messages(self, ctx: AgentContext) -> list[dict[str, str]]:
        instruction = (
            "Critique this chapter as a developmental editor: pacing, voice, clarity, "
            "character. Be specific and brief."
        )
        return _chat(instruction, ctx.input_text[:CONTEXT_CHARS])


class BrainstormAgent(LLMAgent):
    name = "brainstorm"
    description = "Ideas for what could happen next, or on a given topic."
    params_schema = {
        "type": "object",
        "properties": {
            "topic": {"type": "string", "default": "what happens next", "maxLength": 500},
            "count": {"type": "integer", "default": 5, "minimum": 1, "maximum": 20},
        },
    }

    def messages(self, ctx: AgentContext) -> list[dict[str, str]]:
        instruction = (
            f"Brainstorm {ctx.params['count']} short ideas about: {ctx.params['topic']}. "
            "One per line."
        )
        return _chat(instruction, ctx.input_text[-TAIL_CHARS:])
