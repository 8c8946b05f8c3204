"""The CPU-heavy half of an export, as plain functions a worker process can run.

Everything here takes and returns picklable values (bytes, strings, the tree's
dataclasses), so the server can hand it to a ``ProcessPoolExecutor``: WeasyPrint
and python-docx hold the GIL for seconds, and in a thread they would stall the
event loop that acknowledges edits. Merging the stored log is CPU work too, so
the worker gets the raw snapshot and updates rather than a merged state.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

from draftroom.document.load import build_doc
from draftroom.export import Document, ExportFormat, ExportOptions, read_document
from draftroom.worker_exit import tie_to_parent


@dataclass(frozen=True, slots=True)
class Source:
    """One stored document as the exporter needs it."""

    doc_id: str
    title: str
    snapshot: bytes | None
    updates: list[bytes]


def lower_priority() -> None:
    """Worker process initializer: when cores are scarce, the event loop that
    acknowledges edits wins over an export (which only gets a little slower).
    The worker also ends when the server does, however it ends."""
    tie_to_parent()
    with contextlib.suppress(OSError, AttributeError):
        os.nice(10)


def read_source(source: Source) -> Document:
    return read_document(build_doc(source.snapshot, source.updates), source.title)


# The format travels whole (its render function pickles by reference), so a worker
# renders formats registered in the parent without a registry of its own.
def render_source(source: Source, kind: ExportFormat, options: ExportOptions) -> bytes:
    """One document to one file."""
    return kind.render([read_source(source)], options)


def render_compiled(docs: list[Document], kind: ExportFormat, options: ExportOptions) -> bytes:
    """Documents already read (one at a time, for progress) to one manuscript."""
    return kind.render(docs, options)
