"""The readability agent: textstat scores per paragraph and overall."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from draftroom.agents.base import AgentContext
from draftroom.agents.builtin.common import OfflineAgent, batches
from draftroom.agents.builtin.readability_scores import paragraph_scores, scores
from draftroom.agents.text import DocumentText


class ReadabilityAgent(OfflineAgent):
    name = "readability"
    version = "1"
    description = "Readability (textstat): Flesch, Flesch-Kincaid, Fog, per paragraph and overall."
    params_schema = {
        "type": "object",
        "properties": {"per_paragraph": {"type": "boolean", "default": True}},
    }

    async def run(self, ctx: AgentContext) -> AsyncIterator[dict[str, Any]]:
        per_paragraph = bool(ctx.params["per_paragraph"])
        overall, paragraphs = await ctx.offload(
            _measure, ctx.document, ctx.input_text, per_paragraph and ctx.selection is None
        )
        for batch in batches(paragraphs):
            yield {"paragraphs": batch}
        yield {"overall": overall}


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
