"""The readability agent: textstat scores per paragraph and overall."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from draftroom.agents.base import AgentContext
from draftroom.agents.builtin.common import OfflineAgent, batches
from draftroom.agents.builtin.readability_scores import paragraph_scores, scores
from draftroom.document.text import DocumentText


class ReadabilityAgent(OfflineAgent):
    name = "readability"
    version = "3"
    description = "Readability (textstat): Flesch, Flesch-Kincaid, Fog, per paragraph and overall."
    params_schema = {
        "type": "object",
        "properties": {"per_paragraph": {"type": "boolean", "default": True}},
    }

    def cache_params(self, params: dict[str, Any]) -> dict[str, Any]:
        # Paragraph scores are always computed (they cost about what the overall pass
        # does), so one cached reply serves both answers.
        return {}

    def cache_input(self, ctx: AgentContext) -> str:
        # Paragraph scores come only for the whole document, so a selection spanning
        # all of it must not share that reply.
        return ("selection\n" if ctx.selection else "document\n") + ctx.input_text

    async def run(self, ctx: AgentContext) -> AsyncIterator[dict[str, Any]]:
        overall, paragraphs = await ctx.offload(
            _measure, ctx.document, ctx.input_text, ctx.selection is None
        )
        for batch in batches(paragraphs):
            yield {"paragraphs": batch}
        yield {"overall": overall}

    async def view(
        self, chunks: AsyncIterator[dict[str, Any]], ctx: AgentContext
    ) -> AsyncIterator[dict[str, Any]]:
        per_paragraph = bool(ctx.params["per_paragraph"])
        async for chunk in chunks:
            if per_paragraph or "paragraphs" not in chunk:
                yield chunk


def _measure(
    document: DocumentText, text: str, per_paragraph: bool
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    paragraphs: list[dict[str, Any]] = []
    if per_paragraph:
        for line in document.lines:
            body = document.line_text(line)
            if line.heading_level or not body.strip():
                continue
            ease, grade, words = paragraph_scores(body)
            paragraphs.append(
                {
                    "paragraph": line.index,
                    "start": line.start,
                    "end": line.end,
                    "words": words,
                    "flesch_reading_ease": ease,
                    "flesch_kincaid_grade": grade,
                }
            )
    return scores(text).to_json(), paragraphs
