"""What the structural update check costs, and what one frame can cost at its bounds.

    .venv/bin/python bench/update_check.py

Prints a Markdown table: the check (parse + depth index) beside yrs's own apply for
a keystroke, loading a large document with and without the check, and the worst
apply time per frame for each hostile shape at the largest size still accepted.
Each number is the best of several runs (the machine is shared).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from pycrdt import Doc, Text

from devtools.yjs_attacks import (
    any_bomb,
    concurrent_inserts,
    huge_delete_set,
    many_clients,
    type_chain,
)
from draftroom.crdt import update_check as uc
from draftroom.document.load import build_doc


def best(run: Callable[[], object], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def keystrokes(n: int = 3000) -> list[bytes]:
    doc: Doc = Doc()
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    text = doc.get("t", type=Text)
    for i in range(n):
        text.insert(i, "a")
    return updates


def big_document() -> list[bytes]:
    """50 sessions typing words at random places: many items, many client ids."""
    rng = random.Random(1)
    updates: list[bytes] = []
    for _ in range(50):
        doc: Doc = Doc()
        if updates:
            doc.apply_update(build_doc(None, updates).get_update())
        doc.observe(lambda event: updates.append(event.update))
        text = doc.get("t", type=Text)
        for _ in range(400):
            current = str(text)
            at = rng.randint(0, len(current))
            text.insert(len(current[:at].encode()), "word ")
    return updates


def main() -> None:
    rows: list[tuple[str, str]] = []
    keys = keystrokes()

    def check_all() -> None:
        index = uc.DepthIndex()
        for update in keys:
            index.record(uc.check_update(update, index))

    def apply_all() -> None:
        doc: Doc = Doc()
        for update in keys:
            doc.apply_update(update)

    rows.append(("check one keystroke update", f"{best(check_all) / len(keys) * 1e6:.1f} µs"))
    rows.append(("yrs apply of the same", f"{best(apply_all) / len(keys) * 1e6:.1f} µs"))

    log = big_document()
    snapshot = build_doc(None, log).get_update()
    size = f"{len(snapshot) / 1e6:.2f} MB snapshot"

    def plain_load() -> None:
        Doc().apply_update(snapshot)

    rows.append(
        (f"load a {size}, checked", f"{best(lambda: build_doc(snapshot, []), 3) * 1e3:.0f} ms")
    )
    rows.append((f"load a {size}, unchecked", f"{best(plain_load, 3) * 1e3:.0f} ms"))

    # The worst shapes still accepted, sent one after another (each frame is the
    # next one a hostile editor could send) until the check refuses one.
    long_item = many_clients(1, first_client=8, text="y" * 400_000)

    def frames(make: Callable[[int], bytes]) -> tuple[float, int]:
        doc: Doc = Doc()
        index = uc.DepthIndex()
        index.record(uc.check_update(long_item, index))
        doc.apply_update(long_item)
        worst = 0.0
        for k in range(200):
            update = make(k)
            started = time.perf_counter()
            try:
                checked = uc.check_update(update, index)
            except uc.UpdateRefused:
                return worst, k
            doc.apply_update(update)
            worst = max(worst, time.perf_counter() - started)
            index.record(checked)
        return worst, 200

    shapes: dict[str, Callable[[int], bytes]] = {
        f"{uc.MAX_UNANCHORED} concurrent inserts a frame": lambda k: concurrent_inserts(
            uc.MAX_UNANCHORED, client=10 + k
        ),
        f"{uc.MAX_CLIENTS} new clients a frame": lambda k: many_clients(
            uc.MAX_CLIENTS, first_client=1000 + k * uc.MAX_CLIENTS
        ),
        "50 concurrent inserts a frame": lambda k: concurrent_inserts(50, client=10 + k),
        "1,000 new deletes inside a 400 KB item a frame": lambda k: huge_delete_set(
            1_000, client=8, first=k * 2_000
        ),
        f"types {uc.MAX_TYPE_DEPTH} deep": lambda k: type_chain(uc.MAX_TYPE_DEPTH, client=5 + k),
        f"value nested {uc.MAX_ANY_DEPTH - 1} deep": lambda k: any_bomb(
            uc.MAX_ANY_DEPTH - 1, client=5 + k
        ),
    }
    for name, make in shapes.items():
        worst, accepted = frames(make)
        rows.append((f"worst frame: {name} ({accepted} accepted)", f"{worst * 1e3:.1f} ms"))

    # Cost per conflict comparison, from one frame of known cost, scaled to the bound.
    doc: Doc[Any] = Doc()
    doc.apply_update(concurrent_inserts(1000, client=5))
    probe = concurrent_inserts(100, client=6)
    per = best(lambda: Doc().apply_update(probe), 1)  # warm-up of the code path
    copy = doc.get_update()

    def probe_apply() -> None:
        fresh: Doc = Doc()
        fresh.apply_update(copy)
        fresh.apply_update(probe)

    base = best(lambda: Doc().apply_update(copy))
    per = (best(probe_apply) - base) / (100 * 1000 + 100 * 101 // 2)
    rows.append(("apply time per conflict comparison", f"{per * 1e9:.0f} ns"))
    rows.append(
        (f"frame at the merge bound ({uc.MAX_MERGE_COST:,} comparisons)",
         f"{per * uc.MAX_MERGE_COST * 1e3:.0f} ms")
    )  # fmt: skip

    print("| measure | time |\n|---|---:|")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
