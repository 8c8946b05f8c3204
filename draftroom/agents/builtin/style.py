"""The style agent: prose lint with positions an editor can underline."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from draftroom.agents.base import AgentContext
from draftroom.agents.builtin.common import OfflineAgent, batches
from draftroom.agents.builtin.style_checks import Issue, lint

MAX_ISSUES = 50000


class StyleAgent(OfflineAgent):
    name = "style"
    version = "2"
    description = "Prose lint (proselint rules): clichés, redundancy, weasel words, typography."
    params_schema = {
        "type": "object",
        "properties": {
            "max_issues": {
                "type": "integer",
                "default": 5000,
                "minimum": 1,
                "maximum": MAX_ISSUES,
            }
        },
    }

    def cache_params(self, params: dict[str, Any]) -> dict[str, Any]:
        # The lint is the same whatever the limit: one cached reply serves every limit.
        return {}

    async def run(self, ctx: AgentContext) -> AsyncIterator[dict[str, Any]]:
        # CPU-bound: off the event loop, so other rooms keep flowing meanwhile.
        issues = await ctx.offload(lint, ctx.input_text)
        # Offsets stay relative to the linted text here; ``view`` places them, so equal
        # selections at different places share the cached reply.
        for batch in batches(issues[:MAX_ISSUES]):
            yield {"issues": [_issue_json(i) for i in batch]}
        yield {"summary": {"issues": len(issues)}}

    async def view(
        self, chunks: AsyncIterator[dict[str, Any]], ctx: AgentContext
    ) -> AsyncIterator[dict[str, Any]]:
        limit: int = ctx.params["max_issues"]
        base = ctx.selection.start if ctx.selection else 0
        shown = 0
        async for chunk in chunks:
            if "issues" in chunk:
                issues = chunk["issues"][: max(limit - shown, 0)]
                shown += len(issues)
                if base:
                    issues = [_shifted(i, base) for i in issues]
                if issues:
                    yield {"issues": issues}
            elif "summary" in chunk:
                yield {"summary": {**chunk["summary"], "shown": shown}}
            else:
                yield chunk


def _shifted(issue: dict[str, Any], base: int) -> dict[str, Any]:
    return {**issue, "start": issue["start"] + base, "end": issue["end"] + base}


def _issue_json(issue: Issue) -> dict[str, Any]:
    return {
        "start": issue.start,
        "end": issue.end,
        "check": issue.check,
        "message": issue.message,
        "replacement": issue.replacement,
    }
