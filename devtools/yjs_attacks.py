"""Hostile Yjs v1 updates, encoded by hand (pycrdt cannot build most of them).

Format (yjs encoding.js / yrs update.rs): varuint client groups; per group varuint
struct count, client, first clock, then structs (info byte, optional origin /
right origin ids, parent info when neither, content); then the delete set.
"""

from __future__ import annotations


def vu(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def vs(s: str | bytes) -> bytes:
    raw = s.encode() if isinstance(s, str) else s
    return vu(len(raw)) + raw


def _update(groups: list[tuple[int, int, list[bytes]]], delete_set: bytes = b"\x00") -> bytes:
    out = bytearray(vu(len(groups)))
    for client, clock, structs in groups:
        out += vu(len(structs)) + vu(client) + vu(clock) + b"".join(structs)
    return bytes(out) + delete_set


def _in_root(content_ref: int, content: bytes, root: str) -> bytes:
    return bytes([content_ref]) + b"\x01" + vs(root) + content


def _in_parent(content_ref: int, content: bytes, parent: tuple[int, int]) -> bytes:
    return bytes([content_ref]) + b"\x00" + vu(parent[0]) + vu(parent[1]) + content


def any_bomb(depth: int, client: int = 1, root: str = "a") -> bytes:
    """One item in root array ``root`` holding the value [[[...null...]]]: 2 bytes a level."""
    value = b"\x75\x01" * depth + b"\x7e"
    return _update([(client, 0, [_in_root(8, vu(1) + value, root)])])


def type_chain(
    depth: int, client: int = 1, clock: int = 0, parent: tuple[int, int] | None = None
) -> bytes:
    """``depth`` arrays each inside the previous one, hung from root "a" or ``parent``."""
    structs = []
    for k in range(depth):
        array = b"\x00"  # ContentType, type ref 0 (YArray)
        if k == 0 and parent is None:
            structs.append(_in_root(7, array, "a"))
        else:
            anchor = (client, clock + k - 1) if k or parent is None else parent
            structs.append(_in_parent(7, array, anchor))
    return _update([(client, clock, structs)])


def concurrent_inserts(count: int, client: int, root: str = "t") -> bytes:
    """``count`` one-character items of one client, all "at the start" of root text
    ``root`` (no origins): YATA compares each with every earlier such item."""
    return _update([(client, 0, [_in_root(4, vs("x"), root) for _ in range(count)])])


def many_clients(count: int, first_client: int = 1000, root: str = "t", text: str = "x") -> bytes:
    """One item ``text`` at the start of ``root`` from each of ``count`` clients."""
    return _update([(first_client + i, 0, [_in_root(4, vs(text), root)]) for i in range(count)])


def huge_delete_set(ranges: int, client: int = 7, first: int = 0) -> bytes:
    """Deletes of every other clock of ``client`` from ``first``: each splits an item."""
    ds = b"".join(vu(first + 2 * i) + vu(1) for i in range(ranges))
    return _update([], vu(1) + vu(client) + vu(ranges) + ds)


def alternating_chain(start: int, count: int, clients: tuple[int, int] = (100, 101)) -> bytes:
    """Items ``start``..``start+count-1`` of a chain at the start of root "t", from two
    clients in turn, each placed after the previous one: yrs cannot merge them into
    blocks, and YATA's scan for an item placed before the chain runs through it all."""
    groups: dict[int, list[tuple[int, bytes]]] = {c: [] for c in clients}
    for k in range(start, start + count):
        client, clock = clients[k % 2], k // 2
        if k == 0:
            struct = _in_root(4, vs("x"), "t")
        else:
            struct = bytes([4 | 0x80]) + vu(clients[(k - 1) % 2]) + vu((k - 1) // 2) + vs("x")
        groups[client].append((clock, struct))
    return _update(
        [(c, items[0][0], [s for _, s in items]) for c, items in groups.items() if items]
    )
