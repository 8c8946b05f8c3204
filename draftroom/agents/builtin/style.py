"""The style agent: prose lint with positions an editor can underline."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from draftroom.agents.base import AgentContext
from draftroom.agents.builtin.common import OfflineAgent, batches
from draftroom.agents.builtin.style_checks import Issue, lint


class StyleAgent(OfflineAgent):
    name = "style"
    version = "1"
    description = "Prose lint (proselint rules): clichés, redundancy, weasel words, typography."
    params_schema = {
        "type": "object",
        "properties": {
            "max_issues": {"type": "integer", "default": 5000, "minimum": 1, "maximum": 50000}
        },
    }

    async def run(self, ctx: AgentContext) -> AsyncIterator[dict[str, Any]]:
        text = ctx.input_text
        base = ctx.selection.start if ctx.selection else 0
        # CPU-bound: off the event loop, so other rooms keep flowing meanwhile.
        issues = await ctx.offload(lint, text)
        shown = issues[: ctx.params["max_issues"]]
        for batch in batches(shown):
            yield {"issues": [_issue_json(i, base) for i in batch]}
        yield {"summary": {"issues": len(issues), "shown": len(shown)}}


def _issue_json(issue: Issue, base: int) -> dict[str, Any]:
    return {
        "start": issue.start + base,
        "end": issue.end + base,
        "check": issue.check,
        "message": issue.message,
        "replacement": issue.replacement,
    }
