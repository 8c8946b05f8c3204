"""Loading a stored document into a pycrdt Doc, with one policy for the event loop.

Building a Doc from a large stored state, and checking each stored update's
structure first, takes tens to hundreds of milliseconds, which would
stall every other room's acknowledgements; past ``LOAD_IN_THREAD_BYTES`` the build
runs in a worker thread. Small documents are built inline, where a thread hop
would cost more than the build. Every loader that needs a Doc on the event loop
(rooms, the content API, agents) calls ``load_doc``; the exporter hands the raw
bytes to a worker process and calls ``build_doc`` there.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass

from pycrdt import Doc

from draftroom.crdt.update_check import DepthIndex, apply_checked
from draftroom.store.base import Store

# The structural check of stored updates (pure Python, ~0.25 ms a KB) costs about ten
# times the build itself, so the threshold is low.
LOAD_IN_THREAD_BYTES = 32 * 1024


@dataclass(frozen=True, slots=True)
class LoadedDoc:
    doc: Doc
    version: int  # sequence number of the last stored update
    snapshot_seq: int
    size: int  # bytes of snapshot plus log, as the store counts them


def build_doc(
    snapshot: bytes | None, updates: Iterable[bytes], depths: DepthIndex | None = None
) -> Doc:
    """The document, every stored update checked first (crdt/update_check.py);
    ``depths`` (if given) is filled with its items' nesting depths for the room."""
    doc: Doc = Doc()
    index = depths if depths is not None else DepthIndex()
    if snapshot:
        apply_checked(doc, snapshot, index, snapshot=True)
    for update in updates:
        apply_checked(doc, update, index)
    return doc


async def load_doc(store: Store, doc_id: str, depths: DepthIndex | None = None) -> LoadedDoc:
    """The document as stored (empty if it was never written)."""
    state = await store.load(doc_id)
    if state.size_bytes > LOAD_IN_THREAD_BYTES:
        doc = await asyncio.to_thread(build_doc, state.snapshot, state.updates, depths)
    else:
        doc = build_doc(state.snapshot, state.updates, depths)
    return LoadedDoc(doc, state.seq, state.snapshot_seq, state.size_bytes)
