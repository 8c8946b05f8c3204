"""HTML writer: one self-contained page with a paged-media stylesheet (used for PDF too)."""

from __future__ import annotations

import html
from importlib import resources

from draftroom.document.tree import (
    BOLD,
    CODE,
    ITALIC,
    LINK,
    STRIKE,
    UNDERLINE,
    Block,
    Blockquote,
    BulletList,
    CodeBlock,
    Document,
    HardBreak,
    Heading,
    HorizontalRule,
    Image,
    Inline,
    Mark,
    OrderedList,
    Paragraph,
    merge_runs,
)
from draftroom.export.formats import ExportFormat
from draftroom.export.options import ExportOptions
from draftroom.export.safety import safe_image, safe_language, safe_link

_TAGS = {BOLD: "strong", ITALIC: "em", UNDERLINE: "u", STRIKE: "s", CODE: "code"}


def theme_css(name: str) -> str:
    return resources.files("draftroom.export").joinpath("themes", f"{name}.css").read_text("utf-8")


def page_css(options: ExportOptions) -> str:
    width, height = options.page_mm
    css = f"@page {{ size: {width}mm {height}mm; margin: {options.margins_mm}mm; }}\n"
    if options.manuscript:
        css += theme_css("manuscript")
    return css


def render_html(docs: list[Document], options: ExportOptions) -> str:
    title = options.project_title or (docs[0].title if docs else "Untitled")
    esc = html.escape
    parts = [
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n',
        f"<title>{esc(title)}</title>\n",
        f'<meta name="author" content="{esc(options.author)}">\n' if options.author else "",
        '<meta name="generator" content="Draftroom">\n',
        "<style>\n",
        theme_css(options.theme),
        "\n",
        page_css(options),
        "</style>\n",
        "</head>\n<body>\n",
        '<section class="title-page">\n',
        f'<h1 class="book-title">{esc(title)}</h1>\n',
        f'<p class="author">{esc(options.author)}</p>\n' if options.author else "",
        "</section>\n",
    ]
    if options.toc and docs:
        parts.append('<nav class="toc">\n<h2 class="toc-title">Contents</h2>\n<ol>\n')
        for n, doc in enumerate(docs, 1):
            parts.append(f'<li><a href="#doc-{n}">{esc(doc.title or "Untitled")}</a></li>\n')
        parts.append("</ol>\n</nav>\n")
    for n, doc in enumerate(docs, 1):
        parts.append(f'<section class="document" id="doc-{n}">\n')
        parts.append(f'<h1 class="doc-title">{esc(doc.title or "Untitled")}</h1>\n')
        _blocks(doc.blocks, parts)
        parts.append("</section>\n")
    parts.append("</body>\n</html>\n")
    return "".join(parts)


def _blocks(blocks: list[Block], out: list[str]) -> None:
    for block in blocks:
        _block(block, out)


def _block(block: Block, out: list[str]) -> None:
    if isinstance(block, Paragraph):
        out.append(f"<p>{_inlines(block.children)}</p>\n")
    elif isinstance(block, Heading):
        # The document title is the h1: its headings move one level down.
        level = min(block.level + 1, 6)
        out.append(f"<h{level}>{_inlines(block.children)}</h{level}>\n")
    elif isinstance(block, Blockquote):
        out.append("<blockquote>\n")
        _blocks(block.children, out)
        out.append("</blockquote>\n")
    elif isinstance(block, BulletList | OrderedList):
        if isinstance(block, OrderedList):
            # WeasyPrint ignores the start attribute: reset the counter as well.
            start = (
                f' start="{block.start}" style="counter-reset: list-item {block.start - 1}"'
                if block.start != 1
                else ""
            )
            out.append(f"<ol{start}>\n")
        else:
            out.append("<ul>\n")
        for item in block.items:
            out.append("<li>")
            _blocks(item.children, out)
            out.append("</li>\n")
        out.append("</ol>\n" if isinstance(block, OrderedList) else "</ul>\n")
    elif isinstance(block, CodeBlock):
        language = safe_language(block.language)
        lang = f' class="language-{language}"' if language else ""
        out.append(f"<pre><code{lang}>{html.escape(block.text)}</code></pre>\n")
    elif isinstance(block, HorizontalRule):
        out.append('<hr class="scene-break">\n')
    elif isinstance(block, Image):
        # Only embedded images: opening the export must not fetch anything.
        src = safe_image(block.src)
        title = f' title="{html.escape(block.title)}"' if block.title else ""
        image = (
            f'<img src="{html.escape(src)}" alt="{html.escape(block.alt)}"{title}>'
            if src
            else f'<p class="image">[Image: {html.escape(block.alt or block.title)}]</p>'
        )
        out.append(
            f"<figure>{image}"
            + (f"<figcaption>{html.escape(block.alt)}</figcaption>" if block.alt and src else "")
            + "</figure>\n"
        )


def _inlines(inlines: list[Inline]) -> str:
    out: list[str] = []
    stack: list[Mark] = []

    def close_to(depth: int) -> None:
        while len(stack) > depth:
            mark = stack.pop()
            out.append("</a>" if mark.kind == LINK else f"</{_TAGS[mark.kind]}>")

    for node in merge_runs(inlines):
        if isinstance(node, HardBreak):
            out.append("<br>")
            continue
        # A link the policy refuses is no link at all: its text stays, as plain text.
        marks = {m for m in node.marks if m.kind != LINK or safe_link(m.href)}
        keep = 0
        while keep < len(stack) and stack[keep] in marks:
            keep += 1
        close_to(keep)
        for mark in sorted(marks - set(stack), key=lambda m: m.rank):
            stack.append(mark)
            if mark.kind == LINK:
                out.append(f'<a href="{html.escape(safe_link(mark.href) or "")}">')
            else:
                out.append(f"<{_TAGS[mark.kind]}>")
        out.append(html.escape(node.text, quote=False))
    close_to(0)
    return "".join(out)


def _render(docs: list[Document], options: ExportOptions) -> bytes:
    return render_html(docs, options).encode("utf-8")


FORMAT = ExportFormat("html", "text/html; charset=utf-8", ".html", _render)
