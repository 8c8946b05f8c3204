"""Server-side awareness (presence) registry.

The server only relays presence, so it keeps each client's latest entry as raw
JSON and forwards frames untouched. It parses just enough to know which client ids
a connection speaks for (to announce their removal when it leaves) and to reject
malformed entries before other clients' ``JSON.parse`` sees them.

Awareness update: varuint count, then per entry varuint clientID, varuint clock,
varstring JSON state ("null" means the client is gone).

Presence is cheap to send and copied to everyone, so a single frame used to be
able to cost every peer megabytes (500,000 entries: +300 MB, 7 s stalls, 12 MB to
each newcomer). Bounds, for frames from this node's clients:

- at most ``MAX_ENTRIES_PER_FRAME`` entries a frame (a Yjs client sends its own
  one; the frame is refused, close 4422);
- at most ``MAX_IDS_PER_PEER`` client ids set by one connection (4422);
- each state at most ``MAX_STATE_BYTES`` of JSON, nested at most as deep as
  Python's parser allows (4422 / 1002, never a traceback);
- a connection may only set or clear ids it owns: the first connection of this
  node to set an id owns it until it leaves (an agent's ids are its server-side
  peer's). Entries for ids another local connection owns are dropped from the
  frame, which is relayed without them; the sender keeps its socket and, if it
  opted in to app messages, gets an ``error`` ``presence_not_yours``. Updates
  from other nodes cannot touch ids owned here either. An id last set through
  another node may be claimed (a client that moved nodes keeps its id).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

from draftroom.crdt.protocol import ProtocolError, read_varbytes, read_varuint, write_varuint

_NULL = b"null"

MAX_ENTRIES_PER_FRAME = 16
MAX_IDS_PER_PEER = 8
MAX_STATE_BYTES = 16 * 1024


class PresenceRefused(ProtocolError):
    """A well-formed awareness frame past one of the bounds above."""


@dataclass(slots=True)
class Entry:
    clock: int
    state: bytes  # UTF-8 JSON
    remote: bool = False  # set through another node, not by a client of ours
    updated: float = field(default_factory=time.monotonic)


def parse_update(update: bytes, bounded: bool = False) -> list[tuple[int, int, bytes]]:
    """The entries of an awareness update; ``bounded`` applies the per-frame caps."""
    count, pos = read_varuint(update, 0)
    if count > len(update):  # each entry takes at least 3 bytes; cheap sanity bound
        raise ProtocolError(f"awareness update claims {count} entries")
    if bounded and count > MAX_ENTRIES_PER_FRAME:
        raise PresenceRefused(
            f"awareness frame with {count} entries (limit {MAX_ENTRIES_PER_FRAME})"
        )
    entries = []
    for _ in range(count):
        client_id, pos = read_varuint(update, pos)
        clock, pos = read_varuint(update, pos)
        state, pos = read_varbytes(update, pos)
        if bounded and len(state) > MAX_STATE_BYTES:
            raise PresenceRefused(f"awareness state over {MAX_STATE_BYTES} bytes")
        try:
            json.loads(state)
        except ValueError:  # includes UnicodeDecodeError
            raise ProtocolError("awareness state is not UTF-8 JSON") from None
        except RecursionError:
            raise ProtocolError("awareness state nested too deep") from None
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

    def apply(self, update: bytes, owned: set[int] | None = None) -> tuple[bytes | None, int]:
        """Record an update from a local connection owning ``owned`` (which grows
        as it claims ids), or, with ``owned=None``, from another node.

        Returns the update to relay (``update`` itself unless entries were dropped;
        None if nothing is left) and how many entries were dropped as not the
        sender's.
        """
        entries = parse_update(update, bounded=owned is not None)
        kept = []
        for entry in entries:
            client_id, clock, state = entry
            current = self.entries.get(client_id)
            if owned is None:
                if current is not None and not current.remote:
                    continue  # one of ours: only its own connection changes it
            elif client_id not in owned:
                if current is not None and not current.remote:
                    continue  # another local connection's
                if len(owned) >= MAX_IDS_PER_PEER:
                    raise PresenceRefused(
                        f"a connection may set at most {MAX_IDS_PER_PEER} awareness client ids"
                    )
                owned.add(client_id)
            kept.append(entry)
            if state == _NULL:
                if current is not None and clock >= current.clock:
                    del self.entries[client_id]
                continue
            if current is None or clock > current.clock:
                self.entries[client_id] = Entry(clock, state, owned is None)
            elif clock == current.clock:
                current.updated = time.monotonic()
        dropped = len(entries) - len(kept)
        if not kept:
            return None, dropped
        return (update if not dropped else encode_update(kept)), dropped

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
