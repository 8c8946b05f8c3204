"""Folding a document's update log into one snapshot.

Re-applying the updates to a fresh Doc and re-encoding it is about 15x faster and
4x smaller than ``pycrdt.merge_updates`` on long logs (shared notes: 10k updates,
35-47 ms to 40 KB against 560-700 ms to 169 KB). It is CPU-bound, so callers run it
in a worker thread.

Every stored update is parsed by update_check first (trusted: only nesting
bombs and merges far past the bound are refused), so a document stored before
those checks existed cannot kill or freeze the process that loads it; a refused
update is logged and left out.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from pycrdt import Doc

from draftroom.crdt.update_check import DepthIndex, UpdateRefused, check_update

log = logging.getLogger(__name__)


def build_doc(
    snapshot: bytes | None, updates: Iterable[bytes], depths: DepthIndex | None = None
) -> Doc:
    """The document; ``depths`` (if given) is filled with its items' nesting depths."""
    doc: Doc = Doc()
    index = depths if depths is not None else DepthIndex()
    for update in [snapshot] if snapshot else []:
        _apply_checked(doc, update, index, snapshot=True)
    for update in updates:
        _apply_checked(doc, update, index)
    return doc


def _apply_checked(doc: Doc, update: bytes, index: DepthIndex, snapshot: bool = False) -> None:
    try:
        checked = check_update(update, index, trusted=True, snapshot=snapshot)
    except UpdateRefused as exc:
        log.error("left a stored update out of the document: %s", exc.reason)
        return
    doc.apply_update(update)
    index.record(checked)


def merge(snapshot: bytes | None, updates: Iterable[bytes]) -> bytes:
    return build_doc(snapshot, updates).get_update()
