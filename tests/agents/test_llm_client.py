"""The OpenAI-compatible client against a real HTTP server speaking that API."""

from __future__ import annotations

import asyncio
import base64
from dataclasses import replace
from pathlib import Path

import pytest

from draftroom.agents.base import Usage
from draftroom.agents.llm.client import LLMClient, LLMError
from draftroom.agents.tokens import TokenCounter
from draftroom.config import Settings

from .fake_openai import FakeOpenAI

MESSAGES = [{"role": "user", "content": "Say something about the sea." * 4}]


def client(fake: FakeOpenAI, tokenizer: str | None = None, **overrides: object) -> LLMClient:
    values: dict[str, object] = {
        "llm_base_url": fake.base_url,
        "llm_api_key": "sk-test",
        "llm_timeout_seconds": 2.0,
        **overrides,
    }
    settings = replace(Settings(), **values)  # type: ignore[arg-type]
    return LLMClient(settings, TokenCounter(tokenizer))


async def collect(c: LLMClient, usage: list[Usage]) -> str:
    return "".join([d async for d in c.stream(MESSAGES, usage)])


async def test_streams_text_and_takes_usage_from_the_provider(llm: FakeOpenAI) -> None:
    c = client(llm)
    usage: list[Usage] = []
    text = await collect(c, usage)
    await c.close()
    assert text.split() == FakeOpenAI.reply_for(llm.requests[0], 12)
    body = llm.requests[0]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["max_tokens"] == 512 and body["model"] == "gpt-4o-mini"
    assert llm.auth_headers == ["Bearer sk-test"]
    expected_prompt = len(MESSAGES[0]["content"]) // 4 + 7
    assert usage == [Usage("gpt-4o-mini", expected_prompt, 12, estimated=False)]


async def test_counts_tokens_itself_when_usage_is_missing(llm: FakeOpenAI) -> None:
    llm.behaviour.send_usage = False
    c = client(llm)
    usage: list[Usage] = []
    text = await collect(c, usage)
    await c.close()
    assert usage[0].estimated
    assert usage[0].completion_tokens == -(-len(text) // 4)  # chars / 4, rounded up
    assert usage[0].prompt_tokens == -(-len(MESSAGES[0]["content"]) // 4) + 4


async def test_exact_counts_with_a_local_tiktoken_file(llm: FakeOpenAI, tmp_path: Path) -> None:
    # A byte-level BPE file in tiktoken's format (no merges): one token per byte.
    bpe = tmp_path / "bytes.tiktoken"
    bpe.write_bytes(b"".join(base64.b64encode(bytes([i])) + b" %d\n" % i for i in range(256)))
    llm.behaviour.send_usage = False
    c = client(llm, tokenizer=str(bpe))
    usage: list[Usage] = []
    text = await collect(c, usage)
    await c.close()
    assert not usage[0].estimated
    assert usage[0].completion_tokens == len(text.encode())


async def test_retries_failures_before_the_first_byte(llm: FakeOpenAI) -> None:
    llm.behaviour.fail_statuses = [503, 429]
    c = client(llm)
    usage: list[Usage] = []
    text = await collect(c, usage)
    await c.close()
    assert len(llm.requests) == 3 and text
    assert len(usage) == 1


async def test_gives_up_after_the_retries(llm: FakeOpenAI) -> None:
    llm.behaviour.fail_statuses = [500, 500, 500, 500]
    c = client(llm, llm_retries=1)
    with pytest.raises(LLMError) as info:
        await collect(c, [])
    await c.close()
    assert info.value.code == "llm_unavailable" and len(llm.requests) == 2


async def test_client_errors_are_not_retried(llm: FakeOpenAI) -> None:
    llm.behaviour.fail_statuses = [401]
    c = client(llm)
    with pytest.raises(LLMError) as info:
        await collect(c, [])
    await c.close()
    assert info.value.code == "llm_error" and "401" in info.value.message
    assert len(llm.requests) == 1


async def test_times_out_on_a_silent_endpoint(llm: FakeOpenAI) -> None:
    llm.behaviour.hang = True
    c = client(llm, llm_timeout_seconds=0.3, llm_retries=1)
    with pytest.raises(LLMError) as info:
        await collect(c, [])
    await c.close()
    assert "timed out" in info.value.message and len(llm.requests) == 2


async def test_cancelling_the_reader_closes_the_upstream_stream(llm: FakeOpenAI) -> None:
    llm.behaviour.words = 200
    llm.behaviour.chunk_delay = 0.02
    c = client(llm)
    usage: list[Usage] = []

    async def read_forever() -> None:
        async for _ in c.stream(MESSAGES, usage):
            pass

    task = asyncio.get_running_loop().create_task(read_forever())
    await llm.wait_for(lambda: llm.requests)
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await llm.wait_for(lambda: llm.disconnects == 1)
    await c.close()
    assert llm.completed == 0
    # What was generated before the cancel is still billed, as an estimate.
    assert len(usage) == 1 and usage[0].estimated and usage[0].completion_tokens > 0


async def test_a_refused_connection_is_an_llm_error(free_port) -> None:  # type: ignore[no-untyped-def]
    settings = replace(Settings(), llm_base_url=f"http://127.0.0.1:{free_port()}/v1", llm_retries=1)
    c = LLMClient(settings, TokenCounter(None))
    with pytest.raises(LLMError) as info:
        async for _ in c.stream(MESSAGES, []):
            pass
    await c.close()
    assert info.value.code == "llm_unavailable"
