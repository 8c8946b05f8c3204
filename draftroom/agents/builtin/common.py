"""What the offline built-ins share: no LLM, always available, cached by content."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from draftroom.agents.base import AgentContext, BaseAgent

# Replies are cut into chunks of this many items so the first ones reach the side
# panel while the rest are still being sent, and no single frame gets large.
CHUNK_ITEMS = 200


class OfflineAgent(BaseAgent):
    # The key hashes the exact text, so a reply never goes stale (the default TTL only
    # bounds memory held for documents nobody asks about any more).

    def cache_input(self, ctx: AgentContext) -> str:
        return ctx.input_text


def batches(items: list[Any], size: int = CHUNK_ITEMS) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
