"""PDF writer: the HTML export laid out by WeasyPrint (CSS paged media)."""

from __future__ import annotations

from draftroom.document.tree import Document
from draftroom.export.formats import ExportFormat
from draftroom.export.html import render_html
from draftroom.export.options import ExportOptions


def render_pdf(docs: list[Document], options: ExportOptions) -> bytes:
    import weasyprint  # imported lazily: it loads Pango, which costs ~0.3 s
    from weasyprint.urls import URLFetcher

    # The exporter never fetches from the network or disk because of document
    # content (no SSRF): data: URIs are the only resources it loads.
    fetcher = URLFetcher(allowed_protocols={"data"})
    page = weasyprint.HTML(string=render_html(docs, options), url_fetcher=fetcher)
    document = page.render()
    document.metadata.title = options.project_title or (docs[0].title if docs else "Untitled")
    document.metadata.authors = [options.author] if options.author else []
    return document.write_pdf()


FORMAT = ExportFormat("pdf", "application/pdf", ".pdf", render_pdf)
