"""HTML into the document tree, with the standard library's tolerant ``html.parser``.

Web pages, word processors' "Save as HTML" and Draftroom's own HTML export all come
in through here (and Markdown's raw HTML blocks too). Only structure and inline
formatting are taken: scripts, styles and forms are dropped, as are attributes but
a link's ``href`` and an image's ``src``/``alt``/``title`` (links keep only safe
schemes, see ``safe_href``). Whitespace collapses as a browser collapses it, except
inside ``<pre>`` and in text that Markdown drives in (``keep_spaces``): CommonMark
strips whitespace only at a line's edges, so the spaces left are the writer's own.

Unclosed tags are forgiven the way browsers forgive the common ones (a new ``<li>``
or ``<p>`` ends the previous one). Containers nest at most ``MAX_DEPTH`` deep;
deeper ones are read as their content, so a hostile file cannot make the tree (or
the Yjs document built from it) recurse without bound.

Draftroom's HTML export puts the document title in ``<h1 class="doc-title">``
(marked by ``<meta name="generator" content="Draftroom">``, with a title page and a
table of contents around the content); such a file reads back with that title as
the document's title and without the chrome.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

from draftroom.document import tree
from draftroom.imports.inline import Runs, clean, css_color

MAX_DEPTH = 32

INLINE_MARKS: dict[str, str] = {
    "b": tree.BOLD,
    "strong": tree.BOLD,
    "i": tree.ITALIC,
    "em": tree.ITALIC,
    "cite": tree.ITALIC,
    "dfn": tree.ITALIC,
    "u": tree.UNDERLINE,
    "ins": tree.UNDERLINE,
    "s": tree.STRIKE,
    "strike": tree.STRIKE,
    "del": tree.STRIKE,
    "code": tree.CODE,
    "kbd": tree.CODE,
    "samp": tree.CODE,
    "tt": tree.CODE,
    "sub": tree.SUBSCRIPT,
    "sup": tree.SUPERSCRIPT,
}
_HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
_SKIP = {"script", "style", "template", "noscript", "select", "textarea", "svg", "math"}
_VOID = {"br", "img", "hr", "meta", "link", "input", "wbr", "col", "area", "base", "source"}
_PARAGRAPHS = {"p", "div", "section", "article", "main", "header", "footer", "aside", "nav"}
_PARAGRAPHS |= {"figure", "figcaption", "address", "dt", "dd", "dl", "center", "body", "html"}
_PARAGRAPHS |= {"details", "summary", "fieldset", "form", "legend"}
# What Draftroom's HTML export adds around the documents (not their content).
_EXPORT_CHROME = {"title-page", "toc"}
_SAFE_SCHEMES = ("http", "https", "mailto", "tel", "ftp")


def safe_href(href: str | None) -> str | None:
    """A link target an editor may follow: a web, mail or phone link, or a relative one.

    ``javascript:``, ``data:`` and other schemes are dropped (the text stays),
    whatever their case or the whitespace and controls a browser would ignore.
    """
    if not href:
        return None
    href = clean(href).strip()
    squeezed = re.sub(r"[\s\x00-\x20]", "", href)
    scheme = re.match(r"([A-Za-z][A-Za-z0-9+.\-]*):", squeezed)
    if scheme and scheme.group(1).lower() not in _SAFE_SCHEMES:
        return None
    return href or None


def safe_src(src: str | None) -> str:
    """An image source: web URLs, relative paths and embedded ``data:image/`` ones."""
    src = clean(src or "").strip()
    if re.match(r"(?i)\s*data:image/", src):
        return src
    return src if safe_href(src) is not None else ""


@dataclass
class _Box:
    """An open container: where blocks go until its end tag."""

    tag: str
    blocks: list[tree.Block] = field(default_factory=list)
    items: list[tree.ListItem] = field(default_factory=list)  # ul / ol
    tasks: list[bool | None] = field(default_factory=list)  # ul / ol: each item's box
    start: int = 1  # ol
    task: bool | None = None  # li: checked or not, None for no checkbox
    rows: list[tree.TableRow] = field(default_factory=list)  # table
    cells: list[tree.TableCell] = field(default_factory=list)  # tr
    header: bool = False  # th
    colspan: int = 1
    rowspan: int = 1


class HtmlReader(HTMLParser):
    """The HTML reader; Markdown drives it with its tokens as if they were tags."""

    def __init__(self, *, keep_spaces: bool = False) -> None:
        super().__init__(convert_charrefs=True)
        self.keep_spaces = keep_spaces
        self.split_line = False  # a picture just split the paragraph's line in two
        self.root = _Box("root")
        self.boxes: list[_Box] = [self.root]
        self.runs = Runs()
        self.marks: list[tuple[str, tree.Mark | None]] = []
        self.heading: int = 0
        self.explicit = False  # inside a <p>: an empty one is still a paragraph
        self.align: str | None = None
        self.dir: str | None = None
        self.pre: list[str] | None = None
        self.pre_language: str | None = None
        self.pre_fresh = False  # nothing read since <pre> yet
        self.skip = 0  # depth inside a dropped element (a script, the export's TOC)
        self.skip_tag = ""
        self.draftroom = False  # a Draftroom export: its title page and TOC are chrome
        self.in_title = False
        self.title = ""
        self.doc_title: str | None = None  # Draftroom's own export
        self.in_doc_title = False
        self.deep = 0  # containers past MAX_DEPTH, read as their content

    # -- blocks ----------------------------------------------------------------

    @property
    def box(self) -> _Box:
        return self.boxes[-1]

    def emit(self, block: tree.Block) -> None:
        box = self.box
        if box.tag in ("ul", "ol"):
            # Content straight inside a list (no <li>) still belongs to an item.
            box.items.append(tree.ListItem([block]))
            box.tasks.append(None)
        else:
            box.blocks.append(block)

    def flush(self) -> None:
        """End the paragraph (or heading) being collected."""
        _trim(self.runs, spaces=not self.keep_spaces)
        self.split_line = False
        align, direction = self.align, self.dir
        self.align = self.dir = None
        explicit, self.explicit = self.explicit, False
        if self.heading:
            if self.in_doc_title and self.doc_title is None:
                self.doc_title = _plain(self.runs.take())
            elif self.in_doc_title:  # a compiled export: later documents' titles
                self.emit(tree.Heading(1, self.runs.take()))
            else:
                self.emit(tree.Heading(self.heading, self.runs.take(), align, direction))
            self.heading = 0
            self.in_doc_title = False
            return
        if self.runs or explicit:
            self.emit(tree.Paragraph(self.runs.take(), align, direction))
        else:
            self.runs.take()

    def push(self, tag: str, **attrs: int | bool) -> None:
        self.flush()
        if len(self.boxes) > MAX_DEPTH:
            self.deep += 1
            return
        self.boxes.append(_Box(tag, **attrs))  # type: ignore[arg-type]

    def pop(self, tag: str) -> None:
        """Close the innermost open ``tag`` (and whatever was left open inside it)."""
        if not any(b.tag == tag for b in self.boxes[1:]):
            if self.deep:
                self.deep -= 1
            return  # else a stray end tag
        self.flush()
        while True:
            box = self.boxes.pop()
            self.close_box(box)
            if box.tag == tag:
                return

    def close_box(self, box: _Box) -> None:
        parent = self.box
        if box.tag == "li" and parent.tag in ("ul", "ol"):
            parent.items.append(tree.ListItem(box.blocks))
            parent.tasks.append(box.task)
        elif box.tag in ("td", "th") and parent.tag == "tr":
            cell = tree.TableCell(box.blocks, box.header, box.colspan, box.rowspan)
            parent.cells.append(cell)
        elif box.tag == "tr" and parent.tag == "table":
            if box.cells:
                parent.rows.append(tree.TableRow(box.cells))
            parent.blocks.extend(box.blocks)  # stray content: kept before the table
        else:
            for block in _finish(box):
                self.emit(block)

    def open_cell(self, tag: str, a: dict[str, str | None]) -> None:
        if self.box.tag in ("td", "th"):
            self.pop(self.box.tag)
        if self.box.tag == "table":
            self.push("tr")
        if self.box.tag != "tr":
            self.flush()  # a cell outside any table: its content is read as is
            return
        span = {"colspan": _int(a.get("colspan"), 1), "rowspan": _int(a.get("rowspan"), 1)}
        self.push(tag, header=tag == "th", **{k: min(max(v, 1), 64) for k, v in span.items()})

    def open_row(self) -> None:
        for tag in ("td", "th", "tr"):
            if self.box.tag == tag:
                self.pop(tag)
        if self.box.tag == "table":
            self.push("tr")
        else:
            self.flush()

    # -- html.parser callbacks ------------------------------------------------------

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if self.skip:
            if tag == self.skip_tag:
                self.skip += 1
            return
        classes = (a.get("class") or "").split()
        chrome = self.draftroom and (_EXPORT_CHROME.intersection(classes) or tag == "figcaption")
        if tag in _SKIP or chrome or "task-box" in classes:
            self.skip, self.skip_tag = 1, tag
            return
        if tag == "meta" and a.get("name") == "generator" and a.get("content") == "Draftroom":
            self.draftroom = True
        if self.pre is not None:
            self.pre_fresh = False
            if tag == "code" and not self.pre_language:
                self.pre_language = _language(a.get("class"))
            elif tag == "br":
                self.pre.append("\n")
            return
        if tag == "title":
            self.in_title = True
        elif tag in _HEADINGS or (tag == "p" and a.get("role") == "heading"):
            self.flush()
            level = int(tag[1]) if tag in _HEADINGS else _int(a.get("aria-level"), 2)
            self.heading = min(max(level, 1), 7)
            self.in_doc_title = tag == "h1" and "doc-title" in classes
            self.block_style(a)
        elif tag == "ol":
            self.push(tag, start=_int(a.get("start"), 1))
        elif tag == "ul":
            self.push(tag)
        elif tag == "li":
            if not any(b.tag in ("ul", "ol") for b in self.boxes):
                self.flush()  # an item outside any list: a paragraph, as browsers show it
                return
            if self.box.tag == "li":
                self.pop("li")
            self.push("li")
            if a.get("data-type") == "taskItem" or "data-checked" in a:
                self.box.task = (a.get("data-checked") or "").lower() == "true"
        elif tag == "input" and (a.get("type") or "").lower() == "checkbox":
            item = next((b for b in reversed(self.boxes) if b.tag == "li"), None)
            if item is not None and item.task is None:
                item.task = "checked" in a
        elif tag == "blockquote":
            self.push("blockquote")
        elif tag == "table":
            self.push("table")
        elif tag == "tr":
            self.open_row()
        elif tag in ("td", "th"):
            self.open_cell(tag, a)
        elif tag == "pre":
            self.flush()
            self.pre = []
            self.pre_fresh = True
            self.pre_language = _language(a.get("class"))
        elif tag == "hr":
            self.flush()
            self.emit(tree.HorizontalRule())
        elif tag == "img":
            self.image(a)
        elif tag == "br":
            self.runs.br()
        elif tag in _PARAGRAPHS:
            self.flush()
            self.explicit = tag == "p"
            self.block_style(a)
        elif tag in ("thead", "tbody", "tfoot", "caption"):
            self.flush()
        else:
            self.marks.append((tag, _mark(tag, a)))

    def block_style(self, a: dict[str, str | None]) -> None:
        style = _style(a.get("style"))
        align = (style.get("text-align") or a.get("align") or "").lower()
        self.align = align if align in tree.ALIGNMENTS else None
        direction = (a.get("dir") or "").lower()
        self.dir = direction if direction in tree.DIRECTIONS else None

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if self.skip:
            if tag == self.skip_tag:
                self.skip -= 1
            return
        if self.pre is not None:
            if tag == "pre":
                self.emit(tree.CodeBlock(clean("".join(self.pre)), self.pre_language))
                self.pre = None
            return
        if tag == "title":
            self.in_title = False
        elif tag in _HEADINGS or tag in _PARAGRAPHS:
            self.flush()
        elif tag in ("ul", "ol", "li", "blockquote", "table", "tr", "td", "th"):
            self.pop(tag)
        else:
            for i in range(len(self.marks) - 1, -1, -1):
                if self.marks[i][0] == tag:
                    del self.marks[i]
                    break

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        if self.pre is not None:
            if self.pre_fresh and data.startswith("\n"):
                data = data[1:]  # a newline straight after <pre> is not content (HTML)
            self.pre_fresh = False
            self.pre.append(data)
            return
        if self.in_title:
            self.title += data
            return
        if self.keep_spaces:
            text = data.replace("\n", " ")  # a newline in text shows as a space, not a break
            if self.split_line:
                text = text.lstrip(" ")
                self.split_line = not text
        else:
            text = re.sub(r"[ \t\n\r\f]+", " ", data)
            if _at_line_start(self.runs):
                text = text.lstrip(" ")
        self.runs.add(text, self.current_marks())

    def text(self, text: str) -> None:
        """Text taken as it is (inline code), without HTML's whitespace collapsing."""
        self.runs.add(text, self.current_marks())

    def code_block(self, text: str, language: str | None) -> None:
        self.flush()
        self.emit(tree.CodeBlock(clean(text), (language or "")[:64] or None))

    def add_blocks(self, blocks: list[tree.Block]) -> None:
        self.flush()
        for block in blocks:
            self.emit(block)

    def blocks(self) -> list[tree.Block]:
        return _clamp_headings(self.root.blocks)

    def current_marks(self) -> list[tree.Mark]:
        return [m for _, m in self.marks if m is not None]

    def image(self, attrs: dict[str, str | None]) -> None:
        src = safe_src(attrs.get("src"))
        alt = clean(attrs.get("alt") or "")
        if not src:
            self.runs.add(alt, self.current_marks())  # keep the words at least
            return
        style = _style(attrs.get("style"))
        width = _pixels(style.get("width") or attrs.get("width"))
        height = _pixels(style.get("height") or attrs.get("height"))
        heading, align, direction = self.heading, self.align, self.dir
        # A picture alone in its paragraph is that paragraph, not an empty one beside it.
        self.explicit = self.explicit and bool(self.runs)
        _trim(self.runs)  # the spaces around a picture that splits a line end or start one
        self.flush()
        self.emit(tree.Image(src, alt, clean(attrs.get("title") or ""), width, height))
        self.heading, self.align, self.dir = heading, align, direction
        self.split_line = True

    def close(self) -> None:
        super().close()
        if self.pre is not None:
            self.handle_endtag("pre")
        self.flush()
        while len(self.boxes) > 1:
            self.pop(self.boxes[-1].tag)


def _mark(tag: str, a: dict[str, str | None]) -> tree.Mark | None:
    """The mark an inline element stands for, if any (a span may carry a colour)."""
    style = _style(a.get("style"))
    if tag in INLINE_MARKS:
        return tree.Mark(INLINE_MARKS[tag])
    if tag == "a":
        href = safe_href(a.get("href"))
        return tree.Mark(tree.LINK, href) if href else None
    if tag == "mark":
        return tree.Mark(
            tree.HIGHLIGHT, color=css_color(a.get("data-color") or style.get("background-color"))
        )
    if tag in ("span", "font"):
        color = css_color(style.get("color") or a.get("color"))
        if color:
            return tree.Mark(tree.TEXT_COLOR, color=color)
        weight = style.get("font-weight", "")
        if weight == "bold" or (weight.isdigit() and int(weight) >= 600):
            return tree.Mark(tree.BOLD)
        if style.get("font-style") == "italic":
            return tree.Mark(tree.ITALIC)
    return None


def _style(value: str | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in (value or "").split(";"):
        name, sep, val = part.partition(":")
        if sep:
            out[name.strip().lower()] = val.strip()
    return out


def _pixels(value: str | None) -> int | None:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(?:px)?\s*", value or "")
    if not match:
        return None
    size = int(float(match.group(1)))
    return size if 0 < size <= 20_000 else None


def _finish(box: _Box) -> list[tree.Block]:
    if box.tag == "blockquote":
        return [tree.Blockquote(box.blocks or [tree.Paragraph()])]
    if box.tag in ("ul", "ol") and box.items:
        if any(t is not None for t in box.tasks):
            pairs = zip(box.items, box.tasks, strict=True)
            return [tree.TaskList([tree.TaskItem(bool(t), item.children) for item, t in pairs])]
        if box.tag == "ol":
            return [tree.OrderedList(box.start, box.items)]
        return [tree.BulletList(box.items)]
    if box.tag == "table":
        return [*box.blocks, tree.Table(box.rows)] if box.rows else box.blocks
    if box.tag in ("tr", "td", "th"):  # outside a table: just the content
        return [b for cell in box.cells for b in cell.children] + box.blocks
    return box.blocks


def _trim(runs: Runs, *, spaces: bool = True) -> None:
    """Drop what a browser would not show at the end of a block or line: spaces,
    and the lone ``<br>`` an empty paragraph holds to keep its height."""
    items = runs.items
    if len(items) == 1 and isinstance(items[0], tree.HardBreak):
        items.pop()
    if not spaces:
        return
    for i in range(len(items) - 1, -1, -1):
        node = items[i]
        at_end = i == len(items) - 1 or isinstance(items[i + 1], tree.HardBreak)
        if isinstance(node, tree.Text) and at_end:
            items[i] = tree.Text(node.text.rstrip(" "), node.marks)


def _at_line_start(runs: Runs) -> bool:
    for node in reversed(runs.items):
        if isinstance(node, tree.HardBreak):
            return True
        if isinstance(node, tree.Text) and node.text:
            return node.text.endswith(" ")
    return True


def _plain(inlines: list[tree.Inline]) -> str:
    return "".join(n.text if isinstance(n, tree.Text) else " " for n in inlines).strip()


def _language(classes: str | None) -> str | None:
    for name in (classes or "").split():
        for prefix in ("language-", "lang-"):
            if name.startswith(prefix) and len(name) > len(prefix):
                return name[len(prefix) :][:64]
    return None


def _int(value: str | None, default: int) -> int:
    try:
        return max(0, min(int(value or ""), 10**6))
    except ValueError:
        return default


def parse_blocks(html: str) -> list[tree.Block]:
    """The blocks of an HTML fragment (Markdown's raw HTML comes in here)."""
    reader = HtmlReader()
    reader.feed(html)
    reader.close()
    return reader.blocks()


def parse_html(html: str, title: str = "") -> tree.Document:
    reader = HtmlReader()
    reader.feed(html)
    reader.close()
    blocks = reader.blocks()
    found = reader.doc_title or clean(re.sub(r"\s+", " ", reader.title)).strip()
    return tree.Document(title or found, blocks)


def _clamp_headings(blocks: list[tree.Block]) -> list[tree.Block]:
    for block in blocks:
        if isinstance(block, tree.Heading):
            block.level = min(block.level, 6)
        for nested in tree.children_of(block):
            _clamp_headings(nested)
    return blocks
