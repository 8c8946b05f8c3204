"""Server-side awareness (presence) registry.

The server only relays presence, so it keeps each client's latest entry as raw
JSON and forwards frames untouched. It parses just enough to know which client ids
a connection speaks for (to announce their removal when it leaves) and to reject
malformed entries before other clients' ``JSON.parse`` sees them.

Awareness update: varuint count, then per entry varuint clientID, varuint clock,
varstring JSON state ("null" means the client is gone).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

from draftroom.crdt.protocol import ProtocolError, read_varbytes, read_varuint, write_varuint

_NULL = b"null"


@dataclass(slots=True)
class Entry:
    clock: int
    state: bytes  # UTF-8 JSON
    remote: bool = False  # set through another node, not by a client of ours
    updated: float = field(default_factory=time.monotonic)


def parse_update(update: bytes) -> list[tuple[int, int, bytes]]:
    count, pos = read_varuint(update, 0)
    if count > len(update):  # each entry takes at least 3 bytes; cheap sanity bound
        raise ProtocolError(f"awareness update claims {count} entries")
    entries = []
    for _ in range(count):
        client_id, pos = read_varuint(update, pos)
        clock, pos = read_varuint(update, pos)
        state, pos = read_varbytes(update, pos)
        try:
            json.loads(state)
        except ValueError:  # includes UnicodeDecodeError
            raise ProtocolError("awareness state is not UTF-8 JSON") from None
        entries.append((client_id, clock, state))
    return entries


def encode_update(entries: list[tuple[int, int, bytes]]) -> bytes:
    out = bytearray(write_varuint(len(entries)))
    for client_id, clock, state in entries:
        out += write_varuint(client_id)
        out += write_varuint(clock)
        out += write_varuint(len(state))
        out += state
    return bytes(out)


class AwarenessRegistry:
    def __init__(self) -> None:
        self.entries: dict[int, Entry] = {}

    def apply(self, update: bytes, remote: bool = False) -> list[int]:
        """Record an update; return the client ids it sets (not those it clears)."""
        touched = []
        for client_id, clock, state in parse_update(update):
            current = self.entries.get(client_id)
            if state == _NULL:
                if current is not None and clock >= current.clock:
                    del self.entries[client_id]
                continue
            if current is None or clock > current.clock:
                self.entries[client_id] = Entry(clock, state, remote)
            elif clock == current.clock:
                current.updated = time.monotonic()
            touched.append(client_id)
        return touched

    def encode_all(self, local_only: bool = False) -> bytes | None:
        entries = [
            (cid, e.clock, e.state)
            for cid, e in self.entries.items()
            if not (local_only and e.remote)
        ]
        return encode_update(entries) if entries else None

    def expire(self, max_age: float) -> bytes | None:
        """Forget presence relayed from other nodes that nobody renewed in time.

        Clients renew their state every 15 s (y-protocols), so a state older than
        ``max_age`` belongs to a client whose node died or lost contact: no ghost
        cursors. Returns the removal update for this node's clients.
        """
        cutoff = time.monotonic() - max_age
        stale = {cid for cid, e in self.entries.items() if e.remote and e.updated < cutoff}
        return self.remove(stale)

    def remove(self, client_ids: set[int]) -> bytes | None:
        """Forget these clients; return the update that tells everyone else."""
        gone = []
        for client_id in client_ids:
            entry = self.entries.pop(client_id, None)
            if entry is not None:
                gone.append((client_id, entry.clock + 1, _NULL))
        return encode_update(gone) if gone else None
