"""Folding a document's update log into one snapshot.

Re-applying the updates to a fresh Doc and re-encoding it is about 15x faster and
4x smaller than ``pycrdt.merge_updates`` on long logs (10k updates: 35-47 ms to
40 KB against 560-700 ms to 169 KB). It is CPU-bound, so callers run it in a
worker thread.
"""

from __future__ import annotations

from collections.abc import Iterable

from pycrdt import Doc


def merge(snapshot: bytes | None, updates: Iterable[bytes]) -> bytes:
    doc: Doc = Doc()
    if snapshot:
        doc.apply_update(snapshot)
    for update in updates:
        doc.apply_update(update)
    return doc.get_update()
