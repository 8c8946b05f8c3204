"""Export documents to Markdown, DOCX, PDF, HTML and Scrivener 3.

Synchronous and CPU-bound by design: the server calls it from a worker thread or
process. Read CRDT state with ``read_update``/``read_document``, then export::

    docs = [read_update(state, title) for state, title in rows]
    data = export_documents(docs, "docx", ExportOptions(author="Ann"))
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import IO

from draftroom.document.reader import read_document, read_update
from draftroom.document.tree import Document
from draftroom.export.files import UniqueNames, safe_stem, zip_stream
from draftroom.export.options import PAGE_SIZES, THEMES, ExportOptions

__all__ = [
    "FORMATS",
    "PAGE_SIZES",
    "THEMES",
    "Document",
    "ExportFormat",
    "ExportOptions",
    "export_documents",
    "export_zip",
    "read_document",
    "read_update",
    "safe_stem",
    "write_zip",
]


def _markdown(docs: list[Document], options: ExportOptions) -> bytes:
    from draftroom.export.markdown import render_markdown

    return render_markdown(docs).encode("utf-8")


def _docx(docs: list[Document], options: ExportOptions) -> bytes:
    from draftroom.export.docx import render_docx

    return render_docx(docs, options)


def _pdf(docs: list[Document], options: ExportOptions) -> bytes:
    from draftroom.export.pdf import render_pdf

    return render_pdf(docs, options)


def _html(docs: list[Document], options: ExportOptions) -> bytes:
    from draftroom.export.html import render_html

    return render_html(docs, options).encode("utf-8")


def _scrivener(docs: list[Document], options: ExportOptions) -> bytes:
    from draftroom.export.scrivener import render_scrivener

    return render_scrivener(docs, options)


@dataclass(frozen=True)
class ExportFormat:
    name: str
    content_type: str
    extension: str
    render: Callable[[list[Document], ExportOptions], bytes]


FORMATS: dict[str, ExportFormat] = {
    f.name: f
    for f in (
        ExportFormat("md", "text/markdown; charset=utf-8", ".md", _markdown),
        ExportFormat(
            "docx",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            ".docx",
            _docx,
        ),
        ExportFormat("pdf", "application/pdf", ".pdf", _pdf),
        ExportFormat("html", "text/html; charset=utf-8", ".html", _html),
        # A .scriv project is a folder, so it travels zipped.
        ExportFormat("scriv", "application/zip", ".scriv.zip", _scrivener),
    )
}


def _format(fmt: str) -> ExportFormat:
    try:
        return FORMATS[fmt]
    except KeyError:
        raise ValueError(f"unknown export format {fmt!r}; use one of {sorted(FORMATS)}") from None


def export_documents(docs: list[Document], fmt: str, options: ExportOptions | None = None) -> bytes:
    """One compiled output for all documents, in order (a manuscript, one project)."""
    return _format(fmt).render(list(docs), options or ExportOptions())


def export_zip(
    docs: Iterable[Document], fmt: str, options: ExportOptions | None = None
) -> Iterator[bytes]:
    """A ZIP with one file per document, yielded in chunks while it is built. A
    document that fails to render is left out and named in ``EXPORT-ERRORS.txt``.

    ``docs`` may be a lazy iterable: each document is read, exported and released
    in turn, so memory stays flat for large batches.
    """
    kind = _format(fmt)
    opts = options or ExportOptions()
    names = UniqueNames()

    def entries() -> Iterator[tuple[str, Callable[[], bytes]]]:
        for doc in docs:
            yield names.name(doc.title, kind.extension), partial(kind.render, [doc], opts)

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
