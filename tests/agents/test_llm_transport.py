"""LLMClient's transport seam, and that it is the ``ChatModel`` agents are given."""

from __future__ import annotations

import json
from dataclasses import replace

import httpx

from draftroom.agents.base import ChatModel, Usage
from draftroom.agents.llm.client import LLMClient
from draftroom.agents.tokens import TokenCounter
from draftroom.config import Settings

MESSAGES = [{"role": "user", "content": "Say something about the sea."}]


async def test_the_transport_is_the_seam_for_the_network() -> None:
    """``LLMClient(transport=...)``: httpx's own seam, so a caller can route the calls
    (here ``httpx.MockTransport``; the other tests use a real loopback server)."""
    bodies: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        stream = (
            'data: {"choices":[{"delta":{"content":"Ahoy"}}]}\n\n'
            'data: {"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":1}}\n\n'
            "data: [DONE]\n\n"
        )
        return httpx.Response(200, text=stream, headers={"content-type": "text/event-stream"})

    settings = replace(Settings(), llm_base_url="http://llm.invalid/v1")
    model: ChatModel = LLMClient(
        settings, TokenCounter(None), transport=httpx.MockTransport(handler)
    )
    usage: list[Usage] = []
    assert "".join([d async for d in model.stream(MESSAGES, usage)]) == "Ahoy"
    assert bodies[0]["messages"] == MESSAGES
    assert usage == [Usage(model.model, 9, 1, estimated=False)]
    assert isinstance(model, LLMClient)
    await model.close()
