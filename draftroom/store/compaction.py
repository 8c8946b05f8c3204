"""Folding a document's update log into one snapshot.

Re-applying the updates to a fresh Doc and re-encoding it is about 15x faster and
4x smaller than ``pycrdt.merge_updates`` on long logs (10k updates: 35-47 ms to
40 KB against 560-700 ms to 169 KB). It is CPU-bound, so callers run it in a
worker thread.

Every stored update is parsed by crdt/update_check first (a leaf module that
only reads bytes), so a document stored before those checks existed cannot kill
or freeze the process that compacts it.
"""

from __future__ import annotations

from collections.abc import Iterable

from pycrdt import Doc

from draftroom.crdt.update_check import DepthIndex, apply_checked


def merge(snapshot: bytes | None, updates: Iterable[bytes]) -> bytes:
    doc: Doc = Doc()
    index = DepthIndex()
    if snapshot:
        apply_checked(doc, snapshot, index, snapshot=True)
    for update in updates:
        apply_checked(doc, update, index)
    return doc.get_update()
