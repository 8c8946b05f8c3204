"""The usage log and per-user daily budgets (tables ``agent_usage``, ``agent_budgets``).

Every LLM call is recorded with its tokens and cost. Before an LLM agent computes
(a cache hit costs nothing and is always allowed), the requester's spend since
midnight UTC is compared with their budget: their row in ``agent_budgets`` if any,
else ``--agent-daily-budget-usd`` (0 meaning no cap).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from draftroom.agents.base import AgentError, Requester, Usage
from draftroom.agents.prices import PriceTable
from draftroom.store.base import SQL
from draftroom.times import iso

DAY = 86400.0
_FILTERS = ("user_id", "doc_id", "agent", "model")


def day_start(now: float) -> float:
    return now - now % DAY


@dataclass(frozen=True, slots=True)
class UsageQuery:
    user_id: str | None = None
    doc_id: str | None = None
    agent: str | None = None
    model: str | None = None
    since: float | None = None
    until: float | None = None
    limit: int = 100


class UsageLog:
    def __init__(self, sql: SQL, prices: PriceTable, default_budget: float) -> None:
        self.sql = sql
        self.prices = prices
        self.default_budget = default_budget

    async def record(
        self, request_id: str, requester: Requester, doc_id: str, agent: str, usage: Usage
    ) -> float:
        cost = self.prices.cost(usage.model, usage.prompt_tokens, usage.completion_tokens)
        await self.sql.execute(
            "INSERT INTO agent_usage (at, request_id, user_id, doc_id, agent, model, "
            "prompt_tokens, completion_tokens, cost_usd, estimated) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            time.time(),
            request_id,
            requester.id,
            doc_id,
            agent,
            usage.model,
            usage.prompt_tokens,
            usage.completion_tokens,
            cost,
            int(usage.estimated),
        )
        return cost

    # -- budgets --------------------------------------------------------------------

    async def budget(self, user_id: str) -> float | None:
        """The user's daily cap in USD; None when there is none."""
        row = await self.sql.fetchrow(
            "SELECT daily_usd FROM agent_budgets WHERE user_id = $1", user_id
        )
        if row is not None:
            return float(row["daily_usd"])
        return self.default_budget if self.default_budget > 0 else None

    async def set_budget(self, user_id: str, daily_usd: float | None) -> None:
        if daily_usd is None:
            await self.sql.execute("DELETE FROM agent_budgets WHERE user_id = $1", user_id)
            return
        await self.sql.execute(
            "INSERT INTO agent_budgets (user_id, daily_usd) VALUES ($1, $2) "
            "ON CONFLICT (user_id) DO UPDATE SET daily_usd = excluded.daily_usd",
            user_id,
            daily_usd,
        )

    async def spent_today(self, user_id: str, now: float | None = None) -> float:
        now = time.time() if now is None else now
        row = await self.sql.fetchrow(
            "SELECT COALESCE(SUM(cost_usd), 0) AS spent FROM agent_usage "
            "WHERE user_id = $1 AND at >= $2",
            user_id,
            day_start(now),
        )
        return float(row["spent"]) if row is not None else 0.0

    async def check_budget(self, requester: Requester) -> None:
        """Raise budget_exceeded once today's spend has reached the user's cap."""
        budget = await self.budget(requester.id)
        if budget is None:
            return
        spent = await self.spent_today(requester.id)
        if spent >= budget:
            raise AgentError(
                f"daily AI budget spent: ${spent:.4f} of ${budget:.4f} used today; "
                "it resets at 00:00 UTC",
                code="budget_exceeded",
                status=429,
            )

    # -- reports --------------------------------------------------------------------

    async def report(self, query: UsageQuery) -> dict[str, Any]:
        where, args = _where(query)
        totals = await self.sql.fetchrow(
            "SELECT COUNT(*) AS calls, COALESCE(SUM(prompt_tokens), 0) AS prompt_tokens, "
            "COALESCE(SUM(completion_tokens), 0) AS completion_tokens, "
            f"COALESCE(SUM(cost_usd), 0) AS cost_usd FROM agent_usage{where}",
            *args,
        )
        groups: dict[str, list[dict[str, Any]]] = {}
        for column, name in (("model", "by_model"), ("agent", "by_agent"),
                             ("user_id", "by_user"), ("doc_id", "by_document")):  # fmt: skip
            rows = await self.sql.fetch(
                f"SELECT {column} AS key, COUNT(*) AS calls, "
                "SUM(prompt_tokens) AS prompt_tokens, SUM(completion_tokens) AS "
                f"completion_tokens, SUM(cost_usd) AS cost_usd FROM agent_usage{where} "
                f"GROUP BY {column} ORDER BY cost_usd DESC, key LIMIT 100",
                *args,
            )
            groups[name] = [_numbers(r) for r in rows]
        records = await self.sql.fetch(
            "SELECT at, request_id, user_id, doc_id, agent, model, prompt_tokens, "
            f"completion_tokens, cost_usd, estimated FROM agent_usage{where} "
            f"ORDER BY at DESC, id DESC LIMIT {int(query.limit)}",
            *args,
        )
        return {
            "totals": _numbers(totals or {}),
            **groups,
            "records": [
                {**_numbers(r), "at": iso(r["at"]), "estimated": bool(r["estimated"])}
                for r in records
            ],
        }


def _where(query: UsageQuery) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    args: list[Any] = []
    for column in _FILTERS:
        value = getattr(query, column)
        if value is not None:
            args.append(value)
            clauses.append(f"{column} = ${len(args)}")
    if query.since is not None:
        args.append(query.since)
        clauses.append(f"at >= ${len(args)}")
    if query.until is not None:
        args.append(query.until)
        clauses.append(f"at < ${len(args)}")
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), args


def _numbers(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for name in ("calls", "prompt_tokens", "completion_tokens"):
        if name in out:
            out[name] = int(out[name] or 0)
    if "cost_usd" in out:
        out["cost_usd"] = round(float(out["cost_usd"] or 0), 8)
    return out
