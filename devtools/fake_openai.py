"""A real OpenAI-compatible chat completions server on 127.0.0.1, for tests and benches.

Speaks ``POST /v1/chat/completions`` with and without ``stream: true`` (SSE
``data: {...}`` chunks, ``data: [DONE]``, usage in a last chunk when
``stream_options.include_usage``). Tests steer it through ``FakeOpenAI.behaviour``:
slow first byte, slow chunks, a queue of failure statuses, hanging, no usage.
The reply is a deterministic function of the request, so cache hits can be checked
against a fresh computation.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from devtools.inprocess import serving
from devtools.waiting import eventually


@dataclass
class Behaviour:
    first_byte_delay: float = 0.0
    chunk_delay: float = 0.0
    words: int = 12  # words in a reply, one per stream chunk
    fail_statuses: list[int] = field(default_factory=list)  # popped one per request
    hang: bool = False  # accept, then never answer
    send_usage: bool = True


@dataclass
class FakeOpenAI:
    port: int = 0
    behaviour: Behaviour = field(default_factory=Behaviour)
    requests: list[dict[str, Any]] = field(default_factory=list)
    completed: int = 0
    disconnects: int = 0
    auth_headers: list[str] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @staticmethod
    def reply_for(body: dict[str, Any], words: int) -> list[str]:
        digest = hashlib.sha256(json.dumps(body["messages"], sort_keys=True).encode()).hexdigest()
        return [f"w{digest[i % 60 : i % 60 + 4]}{i}" for i in range(words)]

    def app(self) -> Starlette:
        async def completions(request: Request) -> Response:
            body = await request.json()
            self.requests.append(body)
            self.auth_headers.append(request.headers.get("authorization", ""))
            b = self.behaviour
            if b.fail_statuses:
                status = b.fail_statuses.pop(0)
                return JSONResponse({"error": {"message": "injected"}}, status_code=status)
            if b.hang:
                await asyncio.sleep(3600)
            await asyncio.sleep(b.first_byte_delay)
            words = self.reply_for(body, b.words)
            prompt = sum(len(m["content"]) for m in body["messages"]) // 4 + 7
            usage = {
                "prompt_tokens": prompt,
                "completion_tokens": len(words),
                "total_tokens": prompt + len(words),
            }
            if not body.get("stream"):
                self.completed += 1
                message = {"role": "assistant", "content": " ".join(words)}
                return JSONResponse(
                    {
                        "id": "cmpl-fake",
                        "object": "chat.completion",
                        "model": body["model"],
                        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                        **({"usage": usage} if b.send_usage else {}),
                    }
                )
            include_usage = b.send_usage and (body.get("stream_options") or {}).get("include_usage")
            return StreamingResponse(
                self._sse(body["model"], words, usage if include_usage else None),
                media_type="text/event-stream",
            )

        return Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])])

    async def _sse(
        self, model: str, words: list[str], usage: dict[str, int] | None
    ) -> AsyncIterator[bytes]:
        def event(data: dict[str, Any]) -> bytes:
            return f"data: {json.dumps(data)}\n\n".encode()

        base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "model": model}
        try:
            yield b": keep-alive comment\n\n"
            for i, word in enumerate(words):
                if i:
                    await asyncio.sleep(self.behaviour.chunk_delay)
                delta = {"content": (" " if i else "") + word}
                yield event({**base, "choices": [{"index": 0, "delta": delta}]})
            yield event({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
            if usage is not None:
                yield event({**base, "choices": [], "usage": usage})
            yield b"data: [DONE]\n\n"
            self.completed += 1
        except (asyncio.CancelledError, GeneratorExit):
            self.disconnects += 1
            raise

    async def wait_for(self, check: Any, within: float = 5.0) -> None:
        await eventually(check, within, what="fake OpenAI server")


@asynccontextmanager
async def fake_openai() -> AsyncIterator[FakeOpenAI]:
    fake = FakeOpenAI()
    config = uvicorn.Config(
        fake.app(), host="127.0.0.1", port=0, log_config=None, access_log=False, lifespan="off"
    )
    async with serving(config, stop_within=10, force_exit=True) as port:
        fake.port = port
        yield fake
