"""Export documents to Markdown, DOCX, PDF, HTML, Scrivener 3 and any registered format.

Synchronous and CPU-bound by design: the server calls it from a worker thread or
process. Read CRDT state with ``read_update``/``read_document``, then export::

    docs = [read_update(state, title) for state, title in rows]
    data = export_documents(docs, "docx", ExportOptions(author="Ann"))
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import IO

from draftroom.document.reader import read_document, read_update
from draftroom.document.tree import Document
from draftroom.export.files import UniqueNames, safe_stem, zip_stream
from draftroom.export.formats import (
    ExportFormat,
    UnknownFormat,
    get_format,
    known_formats,
    register_format,
)
from draftroom.export.options import PAGE_SIZES, THEMES, ExportOptions

__all__ = [
    "PAGE_SIZES",
    "THEMES",
    "Document",
    "ExportFormat",
    "ExportOptions",
    "UnknownFormat",
    "export_documents",
    "export_zip",
    "get_format",
    "known_formats",
    "read_document",
    "read_update",
    "register_format",
    "safe_stem",
    "write_zip",
]


def _kind(fmt: str | ExportFormat) -> ExportFormat:
    return fmt if isinstance(fmt, ExportFormat) else get_format(fmt)


def export_documents(
    docs: list[Document], fmt: str | ExportFormat, options: ExportOptions | None = None
) -> bytes:
    """One compiled output for all documents, in order (a manuscript, one project)."""
    return _kind(fmt).render(list(docs), options or ExportOptions())


def export_zip(
    docs: Iterable[Document], fmt: str | ExportFormat, options: ExportOptions | None = None
) -> Iterator[bytes]:
    """A ZIP with one file per document, yielded in chunks while it is built.

    ``docs`` may be a lazy iterable: each document is read, exported and released
    in turn, so memory stays flat for large batches.
    """
    kind = _kind(fmt)
    opts = options or ExportOptions()
    names = UniqueNames()

    def entries() -> Iterator[tuple[str, bytes]]:
        for doc in docs:
            yield names.name(doc.title, kind.extension), kind.render([doc], opts)

    return zip_stream(entries())


def write_zip(
    docs: Iterable[Document], fmt: str, out: IO[bytes], options: ExportOptions | None = None
) -> int:
    """Write export_zip's archive to a file object; returns the byte count."""
    total = 0
    for chunk in export_zip(docs, fmt, options):
        out.write(chunk)
        total += len(chunk)
    return total
