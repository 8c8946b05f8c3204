"""Usage analytics: events buffered in memory and written to the store in batches.

``record`` only appends to a bounded in-memory buffer, so it never blocks or
slows the edit path; a background task writes the buffer every few seconds with
one ``executemany``. Events hold kinds, opaque user ids, document ids and counts,
never document text. Events older than the retention period are purged daily;
``erase_user`` deletes a user's events (buffered ones included).

Event kinds: session.started, session.ended (value = words added, estimated),
document.opened, agent.used (label = agent), export.made (label = format).

Installed as a feature: it erases on two control messages, so every node drops its
buffered events too. ``analytics.erase`` comes from the admin API; ``user.deleted``
comes from whatever deleted an account (the API or ``draftroom user delete``), so
auth needs to know nothing about analytics; later events of a deleted account (its
open sessions end after it is gone) are refused.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from draftroom.features import BaseFeature, ControlHandler
from draftroom.store.base import SQL

log = logging.getLogger(__name__)

DAY = 86400.0
MAX_BUFFERED = 50_000
PURGE_EVERY = 3600.0

ERASE = "analytics.erase"
USER_DELETED = "user.deleted"  # {"type": "user.deleted", "user": <id>}, sent by auth
# Deleted accounts whose late events are refused (a socket's session ends after the
# account is gone); ids are never reused, so forgetting the oldest is safe.
REMEMBER_DELETED = 10_000

INSERT = (
    "INSERT INTO analytics_events (ts, day, kind, user_id, doc_id, label, value)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7)"
)


@dataclass(frozen=True, slots=True)
class Event:
    ts: float
    kind: str
    user: str
    doc: str = ""
    label: str = ""
    value: float = 0.0

    def row(self) -> tuple[Any, ...]:
        return (
            self.ts,
            int(self.ts // DAY),
            self.kind,
            self.user,
            self.doc,
            self.label,
            self.value,
        )


class Analytics(BaseFeature):
    def __init__(
        self,
        sql: SQL,
        *,
        retention_days: float,
        flush_seconds: float,
        broadcast: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.sql = sql
        self.retention_days = retention_days
        self.flush_seconds = flush_seconds
        self.dropped = 0
        # Node.broadcast_control: runs a control handler on every node.
        self._broadcast = broadcast
        self._buffer: deque[Event] = deque()
        self._tasks: list[asyncio.Task[None]] = []
        self._erasures: set[asyncio.Task[int]] = set()
        self._deleted: dict[str, None] = {}  # insertion-ordered: oldest first
        self._flushing = asyncio.Lock()

    def record(
        self, kind: str, user: str, doc: str = "", label: str = "", value: float = 0.0
    ) -> None:
        """Queue one event (never blocks; drops and counts when the buffer is full)."""
        if user in self._deleted:
            return
        if len(self._buffer) >= MAX_BUFFERED:
            self.dropped += 1
            return
        self._buffer.append(Event(time.time(), kind, user, doc, label, value))

    # -- erasure on every node ----------------------------------------------------------

    def control_handlers(self) -> Mapping[str, ControlHandler]:
        return {ERASE: self._on_erase, USER_DELETED: self._on_user_deleted}

    def _on_user_deleted(self, data: dict[str, Any]) -> None:
        user = data.get("user")
        if isinstance(user, str):
            self._deleted[user] = None
            if len(self._deleted) > REMEMBER_DELETED:
                del self._deleted[next(iter(self._deleted))]
        self._on_erase(data)

    def _on_erase(self, data: dict[str, Any]) -> None:
        # Drop our buffered events, and delete stored ones once any flush in progress
        # has landed (stop() waits for these).
        user = data.get("user")
        if isinstance(user, str):
            task = asyncio.get_running_loop().create_task(self.erase_user(user))
            self._erasures.add(task)
            task.add_done_callback(self._erasures.discard)

    async def erase_everywhere(self, user: str) -> int:
        """Erase a user's events here and make every node drop its buffered ones.

        Returns how many stored events were deleted."""
        if self._broadcast is not None:
            self._broadcast({"type": ERASE, "user": user})
        return await self.erase_user(user)

    # -- background work ----------------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._every(self.flush_seconds, self.flush), name="analytics-flush"),
            loop.create_task(self._every(PURGE_EVERY, self.purge), name="analytics-purge"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        # Erasures are owed to users: finish them rather than cancel them.
        await asyncio.gather(*self._erasures, return_exceptions=True)
        try:
            await self.flush()
        except Exception as exc:
            log.warning("analytics: %d events not written at shutdown: %s", len(self._buffer), exc)

    async def _every(self, seconds: float, job: Any) -> None:
        while True:
            try:
                await job()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # Analytics must never take the node down; the buffer is kept for the
                # next attempt (and bounded).
                log.warning("analytics %s failed: %s", job.__name__, exc)
            await asyncio.sleep(seconds)

    async def flush(self) -> None:
        async with self._flushing:
            if not self._buffer:
                return
            batch = list(self._buffer)
            await self.sql.executemany(INSERT, [e.row() for e in batch])
            for _ in batch:
                self._buffer.popleft()

    async def purge(self, now: float | None = None) -> int:
        """Delete events older than the retention period; returns how many."""
        cutoff = (time.time() if now is None else now) - self.retention_days * DAY
        return await self.sql.execute("DELETE FROM analytics_events WHERE ts < $1", cutoff)

    async def erase_user(self, user: str) -> int:
        """Delete every event of ``user``, buffered or stored (right to erasure)."""
        async with self._flushing:
            kept = [e for e in self._buffer if e.user != user]
            self._buffer.clear()
            self._buffer.extend(kept)
            return await self.sql.execute("DELETE FROM analytics_events WHERE user_id = $1", user)

    # -- aggregates ------------------------------------------------------------------

    async def summary(self, days: int, now: float | None = None) -> dict[str, Any]:
        """Daily and weekly active writers, active documents, agent use and exports."""
        today = int((time.time() if now is None else now) // DAY)
        first = today - days + 1
        daily = await self.sql.fetch(
            "SELECT day, COUNT(DISTINCT user_id) AS writers, COUNT(DISTINCT doc_id) AS documents"
            " FROM analytics_events WHERE day >= $1 AND day <= $2"
            " AND kind IN ('session.started', 'document.opened')"
            " GROUP BY day ORDER BY day",
            first,
            today,
        )
        words = await self.sql.fetch(
            "SELECT day, SUM(value) AS words FROM analytics_events"
            " WHERE day >= $1 AND day <= $2 AND kind = 'session.ended' GROUP BY day",
            first,
            today,
        )
        words_by_day = {int(r["day"]): float(r["words"] or 0) for r in words}
        weekly = []
        for end in range(today, first - 1, -7):  # rolling 7-day windows ending today
            row = await self.sql.fetchrow(
                "SELECT COUNT(DISTINCT user_id) AS writers, COUNT(DISTINCT doc_id) AS documents"
                " FROM analytics_events WHERE day > $1 AND day <= $2"
                " AND kind IN ('session.started', 'document.opened')",
                end - 7,
                end,
            )
            assert row is not None
            weekly.append(
                {
                    "week_ending": _date(end),
                    "active_writers": int(row["writers"]),
                    "active_documents": int(row["documents"]),
                }
            )
        usage = await self.sql.fetch(
            "SELECT kind, label, COUNT(*) AS n, COUNT(DISTINCT user_id) AS users"
            " FROM analytics_events WHERE day >= $1 AND day <= $2"
            " AND kind IN ('agent.used', 'export.made') GROUP BY kind, label ORDER BY kind, label",
            first,
            today,
        )
        return {
            "days": days,
            "daily": [
                {
                    "date": _date(int(r["day"])),
                    "active_writers": int(r["writers"]),
                    "active_documents": int(r["documents"]),
                    "words_added": round(words_by_day.get(int(r["day"]), 0.0)),
                }
                for r in daily
            ],
            "weekly": weekly,
            "agents": _usage(usage, "agent.used", "agent"),
            "exports": _usage(usage, "export.made", "format"),
        }


def _usage(rows: list[dict[str, Any]], kind: str, key: str) -> list[dict[str, Any]]:
    return [
        {key: r["label"], "uses": int(r["n"]), "users": int(r["users"])}
        for r in rows
        if r["kind"] == kind
    ]


def _date(day: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(day * DAY))
