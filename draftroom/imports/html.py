"""HTML into the document tree, with the standard library's tolerant ``html.parser``.

Web pages, word processors' "Save as HTML" and Draftroom's own HTML export all come
in through here (and Markdown's raw HTML blocks too). Only structure and inline
formatting are taken: scripts, styles and forms are dropped, as are attributes but
a link's ``href`` and an image's ``src``/``alt``/``title`` (links keep only safe
schemes, see ``safe_href``). Whitespace collapses as a browser collapses it, except
inside ``<pre>``.

Unclosed tags are forgiven the way browsers forgive the common ones (a new ``<li>``
or ``<p>`` ends the previous one). Containers nest at most ``MAX_DEPTH`` deep;
deeper ones are read as their content, so a hostile file cannot make the tree (or
the Yjs document built from it) recurse without bound.

Draftroom's HTML export puts the document title in ``<h1 class="doc-title">`` and
moves headings one level down; such a file reads back with its title as the
document's title and its headings where they were.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

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
    ListItem,
    Mark,
    OrderedList,
    Paragraph,
    Text,
)
from draftroom.imports.inline import Runs, clean

MAX_DEPTH = 32

INLINE_MARKS: dict[str, str] = {
    "b": BOLD,
    "strong": BOLD,
    "i": ITALIC,
    "em": ITALIC,
    "cite": ITALIC,
    "dfn": ITALIC,
    "u": UNDERLINE,
    "ins": UNDERLINE,
    "s": STRIKE,
    "strike": STRIKE,
    "del": STRIKE,
    "code": CODE,
    "kbd": CODE,
    "samp": CODE,
    "tt": CODE,
}
_SKIP = {"script", "style", "template", "noscript", "select", "textarea", "svg", "math"}
_VOID = {"br", "img", "hr", "meta", "link", "input", "wbr", "col", "area", "base", "source"}
_PARAGRAPHS = {"p", "div", "section", "article", "main", "header", "footer", "aside", "nav"}
_PARAGRAPHS |= {"figure", "figcaption", "address", "dt", "dd", "dl", "center", "body", "html"}
_PARAGRAPHS |= {"caption", "details", "summary", "fieldset", "form", "legend"}
# What Draftroom's HTML export adds around the documents (not their content).
_EXPORT_CHROME = {"title-page", "toc"}
_CELLS = {"td", "th", "tr", "table", "thead", "tbody", "tfoot"}
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
    blocks: list[Block] = field(default_factory=list)
    items: list[ListItem] = field(default_factory=list)  # for ul / ol
    start: int = 1


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = _Box("root")
        self.boxes: list[_Box] = [self.root]
        self.runs = Runs()
        self.marks: list[tuple[str, Mark]] = []
        self.heading: int = 0
        self.pre: list[str] | None = None
        self.pre_language: str | None = None
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

    def emit(self, block: Block) -> None:
        box = self.box
        if box.tag in ("ul", "ol"):
            # Content straight inside a list (no <li>) still belongs to an item.
            box.items.append(ListItem([block]))
        else:
            box.blocks.append(block)

    def flush(self) -> None:
        """End the paragraph (or heading) being collected."""
        _trim(self.runs)
        if self.heading:
            if self.in_doc_title and self.doc_title is None:
                self.doc_title = _plain(self.runs.take())
            elif self.in_doc_title:  # a compiled export: later documents' titles
                self.emit(Heading(2, self.runs.take()))
            else:
                self.emit(Heading(self.heading, self.runs.take()))
            return
        if self.runs:
            self.emit(Paragraph(self.runs.take()))
        else:
            self.runs.take()

    def push(self, tag: str, start: int = 1) -> None:
        self.flush()
        if len(self.boxes) > MAX_DEPTH:
            self.deep += 1
            return
        self.boxes.append(_Box(tag, start=start))

    def pop(self, tag: str) -> None:
        """Close the innermost open ``tag`` (and whatever was left open inside it)."""
        if self.deep and not any(b.tag == tag for b in self.boxes[1:]):
            self.deep -= 1
            return
        if not any(b.tag == tag for b in self.boxes[1:]):
            return  # a stray end tag
        self.flush()
        while True:
            box = self.boxes.pop()
            block = _finish(box)
            if box.tag == "li" and self.box.tag in ("ul", "ol"):
                self.box.items.append(ListItem(box.blocks))
            elif block is not None:
                self.emit(block)
            else:
                self.box.blocks.extend(box.blocks)
            if box.tag == tag:
                return

    # -- html.parser callbacks ------------------------------------------------------

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if self.skip:
            if tag == self.skip_tag:
                self.skip += 1
            return
        classes = (a.get("class") or "").split()
        if tag in _SKIP or (self.draftroom and _EXPORT_CHROME.intersection(classes)):
            self.skip, self.skip_tag = 1, tag
            return
        if tag == "meta" and a.get("name") == "generator" and a.get("content") == "Draftroom":
            self.draftroom = True
        if self.pre is not None:
            if tag == "code" and not self.pre_language:
                self.pre_language = _language(a.get("class"))
            elif tag == "br":
                self.pre.append("\n")
            return
        if tag == "title":
            self.in_title = True
        elif tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            self.flush()
            self.heading = int(tag[1])
            self.in_doc_title = tag == "h1" and "doc-title" in classes
        elif tag in ("ul", "ol"):
            if tag == "ol":
                self.push(tag, _int(a.get("start"), 1))
            else:
                self.push(tag)
        elif tag == "li":
            if self.box.tag == "li":
                self.pop("li")
            self.push("li")
        elif tag == "blockquote":
            self.push("blockquote")
        elif tag == "pre":
            self.flush()
            self.pre = []
            self.pre_language = _language(a.get("class"))
        elif tag == "hr":
            self.flush()
            self.emit(HorizontalRule())
        elif tag == "img":
            self.image(a)
        elif tag == "br":
            self.runs.br()
        elif tag in _PARAGRAPHS or tag in _CELLS:
            self.flush()
        elif tag in INLINE_MARKS:
            self.marks.append((tag, Mark(INLINE_MARKS[tag])))
        elif tag == "a":
            href = safe_href(a.get("href"))
            if href:
                self.marks.append((tag, Mark(LINK, href)))

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
                text = clean("".join(self.pre))
                # A newline straight after <pre> is not content (HTML's rule), nor
                # is the one before </pre> that exporters add.
                text = text.removeprefix("\n").removesuffix("\n")
                self.emit(CodeBlock(text, self.pre_language))
                self.pre = None
            return
        if tag == "title":
            self.in_title = False
        elif tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            self.flush()
            self.heading = 0
            self.in_doc_title = False
        elif tag in ("ul", "ol", "li", "blockquote"):
            self.pop(tag)
        elif tag in _PARAGRAPHS or tag in _CELLS:
            self.flush()
        elif tag in INLINE_MARKS or tag == "a":
            for i in range(len(self.marks) - 1, -1, -1):
                if self.marks[i][0] == tag:
                    del self.marks[i]
                    break

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        if self.pre is not None:
            self.pre.append(data)
            return
        if self.in_title:
            self.title += data
            return
        text = re.sub(r"[ \t\n\r\f]+", " ", data)
        if _at_line_start(self.runs):
            text = text.lstrip(" ")
        self.runs.add(text, (m for _, m in self.marks))

    def image(self, attrs: dict[str, str | None]) -> None:
        src = safe_src(attrs.get("src"))
        alt = clean(attrs.get("alt") or "")
        if not src:
            self.runs.add(alt, (m for _, m in self.marks))  # keep the words at least
            return
        heading = self.heading
        self.flush()
        self.emit(Image(src, alt, clean(attrs.get("title") or "")))
        self.heading = heading

    def close(self) -> None:
        super().close()
        if self.pre is not None:
            self.handle_endtag("pre")
        self.flush()
        while len(self.boxes) > 1:
            self.pop(self.boxes[-1].tag)


def _finish(box: _Box) -> Block | None:
    if box.tag == "blockquote":
        return Blockquote(box.blocks or [Paragraph()])
    if box.tag == "ul":
        return BulletList(box.items) if box.items else None
    if box.tag == "ol":
        return OrderedList(box.start, box.items) if box.items else None
    return None


def _trim(runs: Runs) -> None:
    """Drop the space a browser would not show at the end of a block or line."""
    items = runs.items
    for i in range(len(items) - 1, -1, -1):
        node = items[i]
        at_end = i == len(items) - 1 or isinstance(items[i + 1], HardBreak)
        if isinstance(node, Text) and at_end:
            items[i] = Text(node.text.rstrip(" "), node.marks)


def _at_line_start(runs: Runs) -> bool:
    for node in reversed(runs.items):
        if isinstance(node, HardBreak):
            return True
        if isinstance(node, Text) and node.text:
            return node.text.endswith(" ")
    return True


def _plain(inlines: list[Inline]) -> str:
    return "".join(n.text if isinstance(n, Text) else " " for n in inlines).strip()


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


def parse_blocks(html: str) -> list[Block]:
    """The blocks of an HTML fragment (Markdown's raw HTML comes in here)."""
    reader = _Reader()
    reader.feed(html)
    reader.close()
    return reader.root.blocks


def parse_html(html: str, title: str = "") -> Document:
    reader = _Reader()
    reader.feed(html)
    reader.close()
    blocks = reader.root.blocks
    if reader.doc_title is not None:
        blocks = _headings_up(blocks)
    found = reader.doc_title or clean(re.sub(r"\s+", " ", reader.title)).strip()
    return Document(title or found, blocks)


def _headings_up(blocks: list[Block]) -> list[Block]:
    """Undo the export's shift: its h2 was the document's level-1 heading."""
    out: list[Block] = []
    for block in blocks:
        if isinstance(block, Heading):
            out.append(Heading(max(1, block.level - 1), block.children))
        elif isinstance(block, Blockquote):
            out.append(Blockquote(_headings_up(block.children)))
        elif isinstance(block, BulletList):
            out.append(BulletList([ListItem(_headings_up(i.children)) for i in block.items]))
        elif isinstance(block, OrderedList):
            items = [ListItem(_headings_up(i.children)) for i in block.items]
            out.append(OrderedList(block.start, items))
        else:
            out.append(block)
    return out
