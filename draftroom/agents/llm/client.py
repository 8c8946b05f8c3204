"""A streaming client for OpenAI-compatible ``POST {base}/chat/completions``.

Streams with Server-Sent Events (``stream: true``) and asks for usage in the last
chunk (``stream_options.include_usage``); counts tokens itself when a provider sends
none. Retries connection failures, timeouts, 429 and 5xx only while nothing has been
received: once text has streamed to collaborators, a retry would repeat it. Closing
the generator (the requester went away) closes the HTTP stream, which stops the
upstream generation and its cost.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx

from draftroom.agents.base import AgentError, Usage
from draftroom.agents.tokens import TokenCounter
from draftroom.config import Settings

log = logging.getLogger(__name__)

_RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}
_BACKOFF_SECONDS = 0.2


class LLMError(AgentError):
    """The LLM endpoint failed or refused: a bad gateway, not the caller's fault."""

    def __init__(self, message: str, *, code: str = "llm_error") -> None:
        super().__init__(message, code=code, status=502)


class _Retryable(Exception):
    pass


class LLMClient:
    """The ``ChatModel`` agents get, over HTTP.

    ``transport`` is httpx's seam: a test may hand in ``httpx.MockTransport``; by
    default it is the real network stack.
    """

    def __init__(
        self,
        settings: Settings,
        tokens: TokenCounter,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not settings.llm_base_url:
            raise ValueError("no LLM endpoint configured")
        self.base_url = settings.llm_base_url.rstrip("/")
        self.model = settings.llm_model
        self.max_tokens = settings.llm_max_tokens
        self.retries = settings.llm_retries
        self.tokens = tokens
        headers = (
            {"Authorization": f"Bearer {settings.llm_api_key}"} if settings.llm_api_key else {}
        )
        self.http = httpx.AsyncClient(
            timeout=httpx.Timeout(settings.llm_timeout_seconds),
            headers=headers,
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
            transport=transport,
        )

    async def close(self) -> None:
        await self.http.aclose()

    async def stream(
        self,
        messages: list[dict[str, str]],
        usage: list[Usage],
        *,
        max_tokens: int | None = None,
        temperature: float = 0.7,
    ) -> AsyncIterator[str]:
        """Yield text deltas; append the call's token usage to ``usage`` at the end."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": max_tokens or self.max_tokens,
            "temperature": temperature,
        }
        received: list[str] = []
        recorded = False
        try:
            for attempt in range(self.retries + 1):
                reported: dict[str, Any] | None = None
                try:
                    async for delta, chunk_usage in self._attempt(body):
                        if chunk_usage:
                            reported = chunk_usage
                        if delta:
                            received.append(delta)
                            yield delta
                except _Retryable as exc:
                    if received or attempt == self.retries:
                        raise LLMError(
                            f"LLM endpoint failed: {exc}", code="llm_unavailable"
                        ) from None
                    log.warning("LLM call failed (%s); retry %d", exc, attempt + 1)
                    await asyncio.sleep(_BACKOFF_SECONDS * 2**attempt)
                    continue
                usage.append(self._usage(messages, "".join(received), reported))
                recorded = True
                return
        finally:
            # Cut short (cancelled, or failed mid-stream): the provider still billed what
            # it generated, so record an estimate of it.
            if not recorded and received:
                usage.append(self._usage(messages, "".join(received), None))

    async def _attempt(
        self, body: dict[str, Any]
    ) -> AsyncIterator[tuple[str, dict[str, Any] | None]]:
        try:
            async with self.http.stream(
                "POST", f"{self.base_url}/chat/completions", json=body
            ) as response:
                if response.status_code in _RETRY_STATUS:
                    raise _Retryable(f"HTTP {response.status_code}")
                if response.status_code >= 400:
                    detail = (await response.aread())[:300].decode(errors="replace")
                    raise LLMError(f"LLM endpoint refused: HTTP {response.status_code} {detail}")
                async for line in response.aiter_lines():
                    if not line.startswith("data:"):
                        continue  # SSE comments, event names, blank separators
                    data = line[5:].strip()
                    if data == "[DONE]":
                        return
                    yield _parse_chunk(data)
        except httpx.TimeoutException as exc:
            raise _Retryable(f"timed out ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            raise _Retryable(f"{type(exc).__name__}: {exc}") from None

    def _usage(
        self, messages: list[dict[str, str]], reply: str, reported: dict[str, Any] | None
    ) -> Usage:
        if reported and "prompt_tokens" in reported:
            return Usage(
                self.model,
                int(reported["prompt_tokens"]),
                int(reported.get("completion_tokens", 0)),
                estimated=False,
            )
        return Usage(
            self.model,
            self.tokens.count_messages(messages),
            self.tokens.count(reply),
            estimated=not self.tokens.exact,
        )


def _parse_chunk(data: str) -> tuple[str, dict[str, Any] | None]:
    try:
        chunk = json.loads(data)
    except ValueError:
        raise LLMError("LLM endpoint sent a malformed stream chunk") from None
    if not isinstance(chunk, dict):
        raise LLMError("LLM endpoint sent a malformed stream chunk")
    if chunk.get("error"):
        raise LLMError(f"LLM endpoint error: {str(chunk['error'])[:300]}")
    delta = ""
    choices = chunk.get("choices") or []
    if choices and isinstance(choices[0], dict):
        delta = (choices[0].get("delta") or {}).get("content") or ""
    return delta, chunk.get("usage")
