"""The embedded cache: a bounded in-memory LRU with per-entry TTLs.

Bounded both by entry count and by total bytes, so a flood of large replies cannot
grow the process without limit.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass

from draftroom.agents.cache.keys import EntryKey


@dataclass(slots=True)
class _Entry:
    value: bytes
    expires: float
    agent: str
    doc_id: str


class MemoryCache:
    def __init__(self, max_entries: int, max_bytes: int) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.bytes = 0
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: EntryKey) -> bytes | None:
        entry = self._entries.get(key.digest)
        if entry is None:
            return None
        if entry.expires <= time.monotonic():
            self._drop(key.digest)
            return None
        self._entries.move_to_end(key.digest)
        return entry.value

    def set(self, key: EntryKey, value: bytes, ttl: float) -> None:
        if len(value) > self.max_bytes:
            return
        self._drop(key.digest)
        self._entries[key.digest] = _Entry(value, time.monotonic() + ttl, key.agent, key.doc_id)
        self.bytes += len(value)
        while len(self._entries) > self.max_entries or self.bytes > self.max_bytes:
            self._drop(next(iter(self._entries)))

    def invalidate(self, agent: str | None, doc_id: str | None) -> int:
        doomed = [
            digest
            for digest, e in self._entries.items()
            if (agent is None or e.agent == agent) and (doc_id is None or e.doc_id == doc_id)
        ]
        for digest in doomed:
            self._drop(digest)
        return len(doomed)

    def _drop(self, digest: str) -> None:
        entry = self._entries.pop(digest, None)
        if entry is not None:
            self.bytes -= len(entry.value)
