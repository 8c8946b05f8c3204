"""Cache entries in the database: the fallback while Redis is unreachable.

Table ``agent_cache`` (migration 003). Slower than Redis, but it keeps repeated
questions answered while Redis is down, and it is shared by every node.
"""

from __future__ import annotations

import time

from draftroom.agents.cache.keys import EntryKey
from draftroom.store.base import SQL


class DatabaseStore:
    def __init__(self, sql: SQL) -> None:
        self.sql = sql

    async def get(self, key: EntryKey) -> bytes | None:
        row = await self.sql.fetchrow(
            "SELECT value FROM agent_cache WHERE key = $1 AND expires_at > $2",
            key.digest,
            time.time(),
        )
        return bytes(row["value"]) if row is not None else None

    async def set(self, key: EntryKey, value: bytes, ttl: float) -> None:
        await self.sql.execute(
            "INSERT INTO agent_cache (key, agent, doc_id, value, expires_at) "
            "VALUES ($1, $2, $3, $4, $5) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
            "expires_at = excluded.expires_at",
            key.digest,
            key.agent,
            key.doc_id,
            value,
            time.time() + ttl,
        )

    async def invalidate(self, agent: str | None, doc_id: str | None) -> int:
        where: list[str] = []
        args: list[str] = []
        for column, value in (("agent", agent), ("doc_id", doc_id)):
            if value is not None:
                args.append(value)
                where.append(f"{column} = ${len(args)}")
        clause = " WHERE " + " AND ".join(where) if where else ""
        return await self.sql.execute(f"DELETE FROM agent_cache{clause}", *args)

    async def purge_expired(self) -> int:
        return await self.sql.execute("DELETE FROM agent_cache WHERE expires_at <= $1", time.time())
