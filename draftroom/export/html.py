"""HTML writer: one self-contained page with a paged-media stylesheet (used for PDF too).

Every node and mark has an HTML element: tables keep header rows and spans, task
items a real (disabled) checkbox, which print as ☐/☑ since WeasyPrint draws no form
controls. A heading keeps its level (``h1``-``h6``, as pandoc writes them); the document
title is ``h1.doc-title`` above them, and the stylesheet ranks it first.
Empty paragraphs hold a ``<br>``, as the editor shows them, so they keep their line.
"""

from __future__ import annotations

import html
from importlib import resources

from draftroom.document import tree
from draftroom.export.formats import ExportFormat
from draftroom.export.options import ExportOptions
from draftroom.export.safety import safe_image, safe_language, safe_link
from draftroom.export.tables import header_rows

_TAGS = {
    tree.BOLD: "strong",
    tree.ITALIC: "em",
    tree.UNDERLINE: "u",
    tree.STRIKE: "s",
    tree.CODE: "code",
    tree.SUBSCRIPT: "sub",
    tree.SUPERSCRIPT: "sup",
    tree.HIGHLIGHT: "mark",
    tree.TEXT_COLOR: "span",
}
# A running head is one line in the page margin: a longer title is cut there
# (it stays whole on its title page, in the contents and in the bookmarks).
RUNNING_HEAD_CHARS = 80


def theme_css(name: str) -> str:
    return resources.files("draftroom.export").joinpath("themes", f"{name}.css").read_text("utf-8")


def page_css(options: ExportOptions) -> str:
    width, height = options.page_mm
    css = f"@page {{ size: {width}mm {height}mm; margin: {options.margins_mm}mm; }}\n"
    if options.manuscript:
        css += theme_css("manuscript")
    return css


def render_html(docs: list[tree.Document], options: ExportOptions) -> str:
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
        doc_title = doc.title or "Untitled"
        head = doc_title
        if len(head) > RUNNING_HEAD_CHARS:
            head = head[: RUNNING_HEAD_CHARS - 1].rstrip() + "\u2026"
        parts.append(
            f'<h1 class="doc-title" data-running-head="{esc(head)}"{_dir_attr(doc_title)}>'
            f"{esc(doc_title)}</h1>\n"
        )
        _blocks(doc.blocks, parts)
        parts.append("</section>\n")
    parts.append("</body>\n</html>\n")
    return "".join(parts)


def _blocks(blocks: list[tree.Block], out: list[str]) -> None:
    for block in blocks:
        _block(block, out)


def _block_attrs(block: tree.Paragraph | tree.Heading) -> str:
    attrs = ""
    if (block.dir or tree.base_direction(block.children)) == "rtl":
        attrs += ' dir="rtl"'
    # TipTap stores its default "left" on every paragraph: it means "not set".
    if block.align and block.align != "left":
        attrs += f' style="text-align: {block.align}"'
    return attrs


def _dir_attr(text: str) -> str:
    return ' dir="rtl"' if tree.base_direction([tree.Text(text)]) == "rtl" else ""


def _block(block: tree.Block, out: list[str]) -> None:
    if isinstance(block, tree.Paragraph):
        content = _inlines(block.children) or "<br>"
        out.append(f"<p{_block_attrs(block)}>{content}</p>\n")
    elif isinstance(block, tree.Heading):
        # A heading keeps its level; the document title is the h1 with class doc-title.
        level = block.level
        out.append(f"<h{level}{_block_attrs(block)}>{_inlines(block.children)}</h{level}>\n")
    elif isinstance(block, tree.TaskList):
        out.append('<ul class="task-list">\n')
        for task in block.items:
            checked = " checked" if task.checked else ""
            box = "\u2611" if task.checked else "\u2610"
            out.append(f'<li class="task-item" data-checked="{str(task.checked).lower()}">')
            marker = (
                f'<input type="checkbox" disabled{checked}><span class="task-box">{box}</span> '
            )
            first, rest = (task.children[0], task.children[1:]) if task.children else (None, [])
            if isinstance(first, tree.Paragraph):
                # The box goes inside the first paragraph, on the line it ticks.
                out.append(f"<p{_block_attrs(first)}>{marker}{_inlines(first.children)}</p>\n")
            else:
                out.append(f"<p>{marker}</p>\n")
                rest = task.children
            _blocks(rest, out)
            out.append("</li>\n")
        out.append("</ul>\n")
    elif isinstance(block, tree.Table):
        _table(block, out)
    elif isinstance(block, tree.Blockquote):
        out.append("<blockquote>\n")
        _blocks(block.children, out)
        out.append("</blockquote>\n")
    elif isinstance(block, tree.BulletList | tree.OrderedList):
        if isinstance(block, tree.OrderedList):
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
        out.append("</ol>\n" if isinstance(block, tree.OrderedList) else "</ul>\n")
    elif isinstance(block, tree.CodeBlock):
        language = safe_language(block.language)
        lang = f' class="language-{language}"' if language else ""
        out.append(f"<pre><code{lang}>{html.escape(block.text)}</code></pre>\n")
    elif isinstance(block, tree.HorizontalRule):
        out.append('<hr class="scene-break">\n')
    elif isinstance(block, tree.Image):
        # Only embedded images: opening the export must not fetch anything.
        src = safe_image(block.src)
        title = f' title="{html.escape(block.title)}"' if block.title else ""
        # Its own width (max-width in the theme caps it at the text width).
        size = f' style="width: {block.width}px"' if block.width else ""
        image = (
            f'<img src="{html.escape(src)}" alt="{html.escape(block.alt)}"{title}{size}>'
            if src
            else f'<p class="image">[Image: {html.escape(block.alt or block.title)}]</p>'
        )
        out.append(
            f"<figure>{image}"
            + (f"<figcaption>{html.escape(block.alt)}</figcaption>" if block.alt and src else "")
            + "</figure>\n"
        )


def _table(table: tree.Table, out: list[str]) -> None:
    heads = header_rows(table)
    out.append('<table class="table">\n')
    for n, row in enumerate(table.rows):
        if n == 0 and heads:
            out.append("<thead>\n")
        if n == heads:
            out.append("<tbody>\n")
        out.append("<tr>")
        for cell in row.cells:
            tag = "th" if cell.header else "td"
            span = f' colspan="{cell.colspan}"' if cell.colspan > 1 else ""
            span += f' rowspan="{cell.rowspan}"' if cell.rowspan > 1 else ""
            out.append(f"<{tag}{span}>")
            _blocks(cell.children, out)
            out.append(f"</{tag}>")
        out.append("</tr>\n")
        if n + 1 == heads:
            out.append("</thead>\n")
    if heads < len(table.rows):
        out.append("</tbody>\n")
    out.append("</table>\n")


def _open_tag(mark: tree.Mark) -> str:
    if mark.kind == tree.LINK:
        return f'<a href="{html.escape(safe_link(mark.href) or "")}">'
    if mark.kind == tree.TEXT_COLOR:
        return f'<span style="color: {mark.color}">'
    if mark.kind == tree.HIGHLIGHT and mark.color:
        return f'<mark style="background-color: {mark.color}">'
    return f"<{_TAGS[mark.kind]}>"


def _inlines(inlines: list[tree.Inline]) -> str:
    out: list[str] = []
    stack: list[tree.Mark] = []

    def close_to(depth: int) -> None:
        while len(stack) > depth:
            mark = stack.pop()
            out.append("</a>" if mark.kind == tree.LINK else f"</{_TAGS[mark.kind]}>")

    for node in tree.merge_runs(inlines):
        if isinstance(node, tree.HardBreak):
            out.append("<br>")
            continue
        # A link the policy refuses is no link at all: its text stays, as plain text.
        marks = {m for m in node.marks if m.kind != tree.LINK or safe_link(m.href)}
        keep = 0
        while keep < len(stack) and stack[keep] in marks:
            keep += 1
        close_to(keep)
        for mark in sorted(marks - set(stack), key=lambda m: m.rank):
            stack.append(mark)
            out.append(_open_tag(mark))
        out.append(html.escape(node.text, quote=False))
    close_to(0)
    return "".join(out)


def _render(docs: list[tree.Document], options: ExportOptions) -> bytes:
    return render_html(docs, options).encode("utf-8")


FORMAT = ExportFormat("html", "text/html; charset=utf-8", ".html", _render)
