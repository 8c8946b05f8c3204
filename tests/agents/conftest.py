"""Fixtures for the agent tests: the fake OpenAI-compatible server, in-process servers."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from devtools.fake_openai import FakeOpenAI, fake_openai


@pytest.fixture
async def llm() -> AsyncIterator[FakeOpenAI]:
    async with fake_openai() as fake:
        yield fake
