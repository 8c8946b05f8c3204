"""Structural checks on Yjs v1 updates, before yrs sees them.

One frame must never crash or freeze a node. yrs (through pycrdt) holds the GIL
while it works, so a worker thread isolates nothing, and some of its code recurses
on the native stack. Measured on this machine (8 MB main stack, pycrdt 0.14):

- an ``Any`` value (a JSON-like array/map inside one item) nested 30,000 deep
  overflows the stack while *decoding* the update (~2 bytes a level: a 60 KB frame
  kills the process); 20,000 deep decodes but crashes ``to_py``;
- types (arrays, maps, XML elements) nested 50,000 deep apply and encode fine but
  crash when the outer one is deleted (20,000 survives); pycrdt's ``to_py``
  raises RecursionError long before that. Such nesting can be built up over many
  small updates, each hanging its chain under the previous one;
- items inserted "at the same place" by distinct clients (no left origin, or an
  origin that is not the client's own previous item) make YATA's conflict scan
  quadratic: 5,000 such items after 5,000 others took 2.8 s, 10,000: 8 s.

So every update a client sends is parsed here, in Python, before it is applied:

- ``MAX_ANY_DEPTH``: nesting of ``Any`` values (serde_json's own default limit is
  128; legit attributes nest two or three deep);
- ``MAX_TYPE_DEPTH``: nesting of shared types, counted from the root and across
  updates with a :class:`DepthIndex` of every item the room's doc holds (a nested
  ProseMirror list costs two levels a list level; Python walkers recurse once a
  level, far under their 1,000-frame limit);
- ``MAX_STRUCTS``, ``MAX_CLIENTS``, ``MAX_DELETE_RANGES``, ``MAX_VALUES``: size
  of one update, which also bounds the time this parser takes (a 4 MB frame of
  nulls would otherwise be 4 million Python steps);
- ``MAX_UNANCHORED``: items in one update placed next to another client's item or
  at the start of a type another client made (a keystroke, a new paragraph, even a
  pasted chapter of hundreds of paragraphs have 1-3: what follows is anchored to
  the paste's own items);
- ``MAX_MERGE_COST``: YATA compares an item inserted at a place (after an origin,
  or at the start of a type) with every item inserted there before. The index
  counts them per place, so the cost of one update is estimated before it is
  applied: 200,000 comparisons, ~15-45 ms here. Without a per-place count the
  cost piles up across updates: 40 frames of 500 such items, the 40th took 3 s;
- ``MAX_SPLIT_COST``: splitting a block (deleting or inserting inside it) moves
  the rest of its client's block array; the index keeps an estimate of each
  client's blocks and which clocks are deleted already (Yjs resends its whole
  delete set with every sync step 2; only new deletes count), plus the text a
  split copies (each client's longest item). 30 million block moves (5,000 new
  splits of one short item, or 400 of a 3 MB one), ~50-100 ms;
- a client's update may only reference items the room has or that it carries:
  yrs would keep the rest pending, and their depth could not be known.

Updates from other nodes and from the store were checked at their edge; they are
parsed to keep the index true, and refused only if they would kill or freeze this
process (a nesting bomb, or 50 times the merge or split bound: data stored before
these checks existed). A compacted snapshot's conflicts are history and are not
costed. All reading is iterative: no Python recursion, whatever the input.
"""

from __future__ import annotations

import logging
import re
from bisect import bisect_left, bisect_right, insort
from dataclasses import dataclass, field

from pycrdt import Doc

MAX_ANY_DEPTH = 64
MAX_TYPE_DEPTH = 100
MAX_STRUCTS = 20_000
MAX_CLIENTS = 256
MAX_DELETE_RANGES = 50_000
MAX_VALUES = 100_000
MAX_UNANCHORED = 500
MAX_MERGE_COST = 200_000
MAX_SPLIT_COST = 30_000_000
# Splitting a string item also copies its text: 5,000 splits of a 3 MB item took
# 0.66 s. Measured, copying 40 characters costs about what moving one block does.
_CHARS_PER_MOVE = 40
TRUSTED_MERGE_SLACK = 50
# The merge estimate counts items inserted at the same place, but YATA's scan also
# runs through whatever hangs off them: a chain of 10,000 items from two clients
# alternating, then 300 items "at the start", took 0.7 s. Rather than index every
# item's position, the room times each apply: after one slower than this, it takes
# only updates STRICT_FACTOR times smaller for a while (a keystroke still passes).
SLOW_APPLY_SECONDS = 0.05
STRICT_FACTOR = 100
STRICT_SECONDS = 60.0

_GC, _DELETED, _JSON, _BINARY, _STRING, _EMBED, _FORMAT, _TYPE, _ANY, _DOC, _SKIP = range(11)
_XML_ELEMENT, _XML_HOOK = 3, 5
_MAX_TYPE_REF = 6  # yjs 13 types; yrs's weak links (7) are not sent by any Yjs client


class UpdateRefused(ValueError):
    """An update this server will not apply. ``malformed`` tells garbage (1007)
    from a well-formed update past a bound (4422); ``missing``, one that builds on
    content the room does not have (yet): the sender is asked to resync instead."""

    def __init__(self, reason: str, malformed: bool = False, missing: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.malformed = malformed
        self.missing = missing


_VARUINT = re.compile(rb"[\x80-\xff]{0,9}[\x00-\x7f]")
_decoded: dict[bytes, int] = {}


class _Reader:
    __slots__ = ("buf", "max_values", "pos", "values")

    def __init__(self, buf: bytes, max_values: int) -> None:
        self.buf = buf
        self.pos = 0
        self.values = 0  # JSON-like values read so far
        self.max_values = max_values

    def count_values(self, n: int) -> None:
        self.values += n
        if self.values > self.max_values:
            raise UpdateRefused(f"update with over {MAX_VALUES} values")

    def uint(self) -> int:
        buf, pos = self.buf, self.pos
        if pos < len(buf) and buf[pos] < 0x80:  # most varuints are one byte
            self.pos = pos + 1
            return buf[pos]
        # Client ids take 8 bytes and repeat in every reference: decode each once.
        match = _VARUINT.match(buf, pos)
        if match is None:
            raise UpdateRefused("truncated or overlong varint", malformed=True)
        raw = match.group()
        self.pos = match.end()
        value = _decoded.get(raw)
        if value is None:
            value = 0
            for byte in reversed(raw):
                value = (value << 7) | (byte & 0x7F)
            if len(_decoded) >= 65_536:
                _decoded.clear()
            _decoded[raw] = value
        return value

    def skip_int(self) -> None:  # a signed varint: skip to its last byte
        buf, pos = self.buf, self.pos
        end = min(len(buf), pos + 10)
        while pos < end:
            byte = buf[pos]
            pos += 1
            if byte < 0x80:
                self.pos = pos
                return
        raise UpdateRefused("truncated or overlong varint", malformed=True)

    def bytes_(self) -> bytes:
        n = self.uint()
        end = self.pos + n
        if end > len(self.buf):
            raise UpdateRefused("length past the end of the update", malformed=True)
        out = self.buf[self.pos : end]
        self.pos = end
        return out

    def skip(self, n: int) -> None:
        if self.pos + n > len(self.buf):
            raise UpdateRefused("truncated update", malformed=True)
        self.pos += n

    def byte(self) -> int:
        if self.pos >= len(self.buf):
            raise UpdateRefused("truncated update", malformed=True)
        b = self.buf[self.pos]
        self.pos += 1
        return b


def _skip_any(r: _Reader, count: int) -> None:
    """Skip ``count`` Any values without recursing; refuse deep nesting."""
    # Each stack entry: values still to read at that level; maps read a key first.
    stack: list[list[int]] = [[count, 0]]  # [remaining, is_map]
    while stack:
        top = stack[-1]
        if top[0] == 0:
            stack.pop()
            continue
        top[0] -= 1
        if top[1]:
            r.bytes_()  # the key
        tag = r.byte()
        if tag in (127, 126, 121, 120):
            continue
        if tag == 125:
            r.skip_int()
        elif tag == 124:
            r.skip(4)
        elif tag in (123, 122):
            r.skip(8)
        elif tag in (119, 116):
            r.bytes_()
        elif tag in (118, 117):
            if len(stack) >= MAX_ANY_DEPTH:
                raise UpdateRefused(f"value nested deeper than {MAX_ANY_DEPTH}")
            n = r.uint()
            if n > len(r.buf):
                raise UpdateRefused("value claims more entries than bytes", malformed=True)
            r.count_values(n)
            stack.append([n, 1 if tag == 118 else 0])
        else:
            raise UpdateRefused(f"unknown value tag {tag}", malformed=True)


def _utf16_length(raw: bytes) -> int:
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        raise UpdateRefused("string is not UTF-8", malformed=True) from None
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le")) // 2


ID = tuple[int, int]


# Where an item lives: its parent type's id or a root's name (None: unknown).
Container = ID | bytes | None


@dataclass(slots=True)
class _Item:
    client: int
    clock: int
    length: int
    is_type: bool
    origin: ID | None
    right: ID | None
    parent: ID | bytes | None  # a type item's id, or a root type's name
    level: int = -1  # container depth: 0 for items of a root type
    container: Container = None  # the parent, resolved through origins


@dataclass(slots=True)
class Checked:
    """What a parsed update holds, for the index once it is applied."""

    items: list[_Item]
    gcs: list[tuple[int, int, int]]  # client, clock, length
    max_depth: int
    deletes: list[tuple[int, int, int]]  # client, clock, length


@dataclass
class DepthIndex:
    """What the checks need to know about a room's doc: the depth and container
    of every item range, by client, plus the per-place conflict counts, block
    estimates and deleted ranges that price the next update.

    Runs of consecutive clocks in one place collapse into one entry, so typing
    costs nothing and the index grows with the document's structure, not its text.
    """

    runs: dict[int, tuple[list[int], list[int], list[tuple[int, Container]]]] = field(
        default_factory=dict
    )
    max_level: int = 0
    # How many items were inserted at each place (after one origin, or at the start
    # of a container) other than by continuing their own client's text: the
    # length of the run YATA scans when one more arrives there.
    conflicts: dict[object, int] = field(default_factory=dict)
    # Roughly how many blocks yrs holds for each client (items and split points),
    # and which of each client's clocks are deleted (sorted, merged ranges).
    blocks: dict[int, int] = field(default_factory=dict)
    longest: dict[int, int] = field(default_factory=dict)  # each client's longest item
    deleted: dict[int, tuple[list[int], list[int]]] = field(default_factory=dict)

    def deleted_already(self, client: int, clock: int, length: int) -> bool:
        run = self.deleted.get(client)
        if run is None:
            return False
        starts, ends = run
        i = bisect_right(starts, clock) - 1
        return i >= 0 and clock + length <= ends[i]

    def _mark_deleted(self, client: int, clock: int, length: int) -> None:
        if length <= 0 or self.deleted_already(client, clock, length):
            return
        starts, ends = self.deleted.setdefault(client, ([], []))
        end = clock + length
        lo = bisect_left(ends, clock)  # first range ending at or after this start
        hi = bisect_right(starts, end)  # ranges starting at or before this end
        if lo < hi:
            starts[lo:hi] = [min(clock, starts[lo])]
            ends[lo:hi] = [max(end, ends[hi - 1])]
        else:
            starts.insert(lo, clock)
            ends.insert(lo, end)
        self.blocks[client] = self.blocks.get(client, 0) + 2

    def where(self, client: int, clock: int) -> tuple[int, Container] | None:
        run = self.runs.get(client)
        if run is None:
            return None
        starts, ends, places = run
        i = bisect_right(starts, clock) - 1
        if i >= 0 and clock < ends[i]:
            return places[i]
        return None

    def add(self, client: int, clock: int, length: int, place: tuple[int, Container]) -> None:
        if length <= 0:
            return
        if place[0] > self.max_level:
            self.max_level = place[0]
        run = self.runs.get(client)
        if run is None:
            self.runs[client] = ([clock], [clock + length], [place])
            return
        starts, ends, places = run
        if clock >= ends[-1]:
            if clock == ends[-1] and places[-1] == place:
                ends[-1] = clock + length
            else:
                starts.append(clock)
                ends.append(clock + length)
                places.append(place)
            return
        if self.where(client, clock) is not None:
            return  # already known (a repeated step 2)
        i = bisect_right(starts, clock)
        insort(starts, clock)
        ends.insert(i, clock + length)
        places.insert(i, place)

    def record(self, checked: Checked) -> None:
        for item in checked.items:
            if self.where(item.client, item.clock) is None:
                key = _anchor(item)
                if key is not None:
                    self.conflicts[key] = self.conflicts.get(key, 0) + 1
                self.blocks[item.client] = self.blocks.get(item.client, 0) + 1
                if item.length > self.longest.get(item.client, 0):
                    self.longest[item.client] = item.length
            self.add(item.client, item.clock, item.length, (item.level, item.container))
        for client, clock, length in checked.gcs:
            self.add(client, clock, length, (0, None))
        for client, clock, length in checked.deletes:
            self._mark_deleted(client, clock, length)


def index_of(doc: Doc) -> DepthIndex:
    """The index of a doc built some other way than through ``check_update``."""
    index = DepthIndex()
    index.record(check_update(doc.get_update(), index, trusted=True, snapshot=True))
    return index


def _anchor(item: _Item) -> object:
    """Where YATA must scan to place ``item``; None when it continues its own text."""
    if item.origin is not None:
        return None if item.origin == (item.client, item.clock - 1) else item.origin
    return ("start", item.container)


def check_update(
    update: bytes,
    index: DepthIndex,
    *,
    trusted: bool = False,
    snapshot: bool = False,
    strict: bool = False,
) -> Checked:
    """Parse ``update`` and enforce the bounds; raise UpdateRefused.

    ``strict``: a room where an update slipped past the estimates (see
    ``STRICT_FACTOR``) takes only small ones for a while.

    ``trusted`` (other nodes, the store's log): only nesting bombs and updates
    costing ``TRUSTED_MERGE_SLACK`` times the merge bound (which no checked
    update can; one stored before the checks existed) are refused, and a
    reference to an item this room lacks counts as the deepest level it knows.
    ``snapshot``: a compacted state, whose conflicts are history, not one edit.
    """
    r = _Reader(update, len(update) if trusted else MAX_VALUES)
    max_unanchored = MAX_UNANCHORED // STRICT_FACTOR if strict else MAX_UNANCHORED
    groups = r.uint()
    if groups > MAX_CLIENTS and not trusted:
        raise UpdateRefused(f"update from {groups} clients (limit {MAX_CLIENTS})")
    items: list[_Item] = []
    gcs: list[tuple[int, int, int]] = []
    # client -> (starts, struct indexes) of this update's items, for references
    own: dict[int, tuple[list[int], list[int]]] = {}
    structs = 0
    unanchored = 0
    for _ in range(groups):
        n = r.uint()
        client = r.uint()
        clock = r.uint()
        structs += n
        if structs > MAX_STRUCTS and not trusted:
            raise UpdateRefused(f"update with over {MAX_STRUCTS} structs")
        if n > len(update):
            raise UpdateRefused("update claims more structs than bytes", malformed=True)
        starts, indexes = own.setdefault(client, ([], []))
        for _ in range(n):
            info = r.byte()
            ref = info & 0x1F
            if ref == _GC or ref == _SKIP:
                length = r.uint()
                if ref == _GC:
                    gcs.append((client, clock, length))
                clock += length
                continue
            origin = (r.uint(), r.uint()) if info & 0x80 else None
            right = (r.uint(), r.uint()) if info & 0x40 else None
            parent: ID | bytes | None = None
            if not info & 0xC0:
                if r.uint() == 1:
                    parent = r.bytes_()
                else:
                    parent = (r.uint(), r.uint())
                if info & 0x20:
                    r.bytes_()
            is_type = False
            if ref == _STRING:
                length = _utf16_length(r.bytes_())
            elif ref == _DELETED:
                length = r.uint()
            elif ref == _JSON:
                length = r.uint()
                if length > len(update):
                    raise UpdateRefused("update claims more values than bytes", malformed=True)
                r.count_values(length)
                for _ in range(length):
                    r.bytes_()
            elif ref == _ANY:
                length = r.uint()
                if length > len(update):
                    raise UpdateRefused("update claims more values than bytes", malformed=True)
                r.count_values(length)
                _skip_any(r, length)
            elif ref == _TYPE:
                type_ref = r.uint()
                if type_ref > _MAX_TYPE_REF:
                    raise UpdateRefused(f"unsupported type {type_ref}", malformed=True)
                if type_ref in (_XML_ELEMENT, _XML_HOOK):
                    r.bytes_()
                is_type = True
                length = 1
            elif ref in (_BINARY, _EMBED):
                r.bytes_()
                length = 1
            elif ref == _FORMAT:
                r.bytes_()
                r.bytes_()
                length = 1
            elif ref == _DOC:
                r.bytes_()
                _skip_any(r, 1)
                length = 1
            else:
                raise UpdateRefused(f"unknown struct type {ref}", malformed=True)
            if length == 0:
                raise UpdateRefused("empty item", malformed=True)
            # Anchored to this client's own items (a paste or an import: each new
            # paragraph follows the last one, its text starts inside it) cannot pile
            # up against other clients' inserts; only inserts placed next to another
            # client's item, or at the start of a type this client did not make, can.
            own_place = (
                origin[0] == client
                if origin is not None
                else (isinstance(parent, tuple) and parent[0] == client)
            )
            if not own_place:
                unanchored += 1
                if unanchored > max_unanchored and not trusted:
                    raise UpdateRefused(
                        f"update with over {max_unanchored} items placed among other clients' items"
                    )
            starts.append(clock)
            indexes.append(len(items))
            items.append(_Item(client, clock, length, is_type, origin, right, parent))
            clock += length
    deletes = _read_delete_set(r, trusted)
    max_depth = _resolve_levels(items, own, index, trusted)
    if not snapshot:
        slack = TRUSTED_MERGE_SLACK if trusted else (1 / STRICT_FACTOR if strict else 1)
        _check_merge_cost(items, index, int(MAX_MERGE_COST * slack))
        _check_split_cost(items, deletes, index, int(MAX_SPLIT_COST * slack))
    return Checked(items, gcs, max_depth, deletes)


def _check_split_cost(
    items: list[_Item], deletes: list[tuple[int, int, int]], index: DepthIndex, limit: int
) -> None:
    """yrs keeps each client's blocks in one array: a delete or an insert in the
    middle of a block splits it and moves the rest of the array (50,000 deletes
    inside one long item took 0.37 s, 500,000 took 25 s)."""
    cost = splits = 0
    blocks, longest = index.blocks, index.longest
    for client, clock, length in deletes:
        if not index.deleted_already(client, clock, length):
            cost += blocks.get(client, 0) + longest.get(client, 0) // _CHARS_PER_MOVE
            splits += 1
    for item in items:
        # An insert inside an item splits it once (its origin and right origin are
        # then neighbours in the same item).
        ref = item.origin or item.right
        if ref is not None and _anchor(item) is not None:
            cost += blocks.get(ref[0], 0) + longest.get(ref[0], 0) // _CHARS_PER_MOVE
            splits += 1
    # Each split also grows the array the next one moves: quadratic within an update.
    cost += splits * splits
    if cost > limit:
        raise UpdateRefused(f"update would move {cost} blocks to apply (limit {limit})")


def _check_merge_cost(items: list[_Item], index: DepthIndex, limit: int) -> None:
    """Bound YATA's conflict scans: each item placed where others were placed
    before compares itself with them (and with this update's own)."""
    cost = 0
    seen: dict[object, int] = {}
    for item in items:
        key = _anchor(item)
        if key is None:
            continue
        earlier = seen.get(key, 0)
        seen[key] = earlier + 1
        cost += index.conflicts.get(key, 0) + earlier + 1
    if cost > limit:
        raise UpdateRefused(
            f"update would cost {cost} conflict comparisons to merge (limit {limit})"
        )


def _read_delete_set(r: _Reader, trusted: bool) -> list[tuple[int, int, int]]:
    deletes: list[tuple[int, int, int]] = []
    clients = r.uint()
    if clients > MAX_CLIENTS and not trusted:
        raise UpdateRefused(f"delete set from {clients} clients (limit {MAX_CLIENTS})")
    ranges = 0
    for _ in range(clients):
        client = r.uint()
        n = r.uint()
        ranges += n
        if ranges > MAX_DELETE_RANGES and not trusted:
            raise UpdateRefused(f"delete set with over {MAX_DELETE_RANGES} ranges")
        if n > len(r.buf):
            raise UpdateRefused("delete set claims more ranges than bytes", malformed=True)
        for _ in range(n):
            deletes.append((client, r.uint(), r.uint()))
    return deletes


def _resolve_levels(
    items: list[_Item],
    own: dict[int, tuple[list[int], list[int]]],
    index: DepthIndex,
    trusted: bool,
) -> int:
    """Give every item its container depth; return the deepest type's depth."""

    def local(ref: ID) -> int | None:
        entry = own.get(ref[0])
        if entry is None:
            return None
        starts, indexes = entry
        i = bisect_right(starts, ref[1]) - 1
        if i < 0:
            return None
        item = items[indexes[i]]
        return indexes[i] if ref[1] < item.clock + item.length else None

    def known(ref: ID) -> tuple[int, Container]:
        place = index.where(*ref)
        if place is not None:
            return place
        if trusted:
            return index.max_level, None
        raise UpdateRefused(
            "update depends on content this server does not have; resync", missing=True
        )

    max_depth = 0
    visiting: list[int] = []
    on_path: set[int] = set()
    for start in range(len(items)):
        if items[start].level >= 0:
            continue
        visiting.append(start)
        on_path.add(start)
        # Follow references until one resolves, then unwind: no recursion.
        while visiting:
            item = items[visiting[-1]]
            level, container = 0, item.parent
            if isinstance(item.parent, tuple):  # in a type: one deeper than it
                j = local(item.parent)
                if j is None:
                    level = known(item.parent)[0] + 1
                elif items[j].level >= 0:
                    level = items[j].level + 1
                elif j in on_path:
                    raise UpdateRefused("update with circular references", malformed=True)
                else:
                    visiting.append(j)
                    on_path.add(j)
                    continue
            elif item.parent is None:  # beside its origin: same place
                ref = item.origin or item.right
                assert ref is not None  # the format has a parent when both are absent
                j = local(ref)
                if j is None:
                    level, container = known(ref)
                elif items[j].level >= 0:
                    level, container = items[j].level, items[j].container
                elif j in on_path:
                    raise UpdateRefused("update with circular references", malformed=True)
                else:
                    visiting.append(j)
                    on_path.add(j)
                    continue
            item.level, item.container = level, container
            on_path.discard(visiting.pop())
            if item.is_type and level + 1 > max_depth:
                max_depth = level + 1
                if max_depth > MAX_TYPE_DEPTH:
                    raise UpdateRefused(f"types nested deeper than {MAX_TYPE_DEPTH}")
    return max_depth


_log = logging.getLogger(__name__)


def apply_checked(doc: Doc, update: bytes, index: DepthIndex, *, snapshot: bool = False) -> None:
    """Apply a STORED update (already checked at the edge when it arrived) after a
    trusted check, so a document stored before these checks existed cannot kill or
    freeze the process that loads it: a refused update is logged and left out."""
    try:
        checked = check_update(update, index, trusted=True, snapshot=snapshot)
    except UpdateRefused as exc:
        _log.error("left a stored update out of the document: %s", exc.reason)
        return
    doc.apply_update(update)
    index.record(checked)
