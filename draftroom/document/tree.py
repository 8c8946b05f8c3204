"""A small, typed document tree that every export writer renders from.

The reader turns a pycrdt document into this tree once; writers never touch pycrdt.
It carries every node and mark TipTap's editor can write (tables, task lists,
sub/superscript, highlight, text colour, alignment, direction, image size), so a
writer that cannot express one decides how to degrade it, instead of the reader
silently dropping it for everyone. Text reaching the tree is already clean
(``clean.py``): no XML-illegal characters, titles free of bidi overrides.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from draftroom.document.clean import clean_name

BOLD = "bold"
ITALIC = "italic"
UNDERLINE = "underline"
STRIKE = "strike"
CODE = "code"
LINK = "link"
SUBSCRIPT = "subscript"
SUPERSCRIPT = "superscript"
HIGHLIGHT = "highlight"
TEXT_COLOR = "textStyle"  # TipTap's Color extension stores the colour on textStyle
MARK_KINDS = (
    LINK,
    BOLD,
    ITALIC,
    STRIKE,
    UNDERLINE,
    HIGHLIGHT,
    TEXT_COLOR,
    SUBSCRIPT,
    SUPERSCRIPT,
    CODE,
)  # outermost first
ALIGNMENTS = ("left", "center", "right", "justify")
DIRECTIONS = ("ltr", "rtl")


@dataclass(frozen=True, slots=True)
class Mark:
    kind: str
    href: str | None = None  # only for links
    color: str | None = None  # highlight / textStyle: a CSS colour as typed (None: default)

    @property
    def rank(self) -> int:
        return MARK_KINDS.index(self.kind)


@dataclass(frozen=True, slots=True)
class Text:
    text: str
    marks: frozenset[Mark] = frozenset()

    def has(self, kind: str) -> bool:
        return any(m.kind == kind for m in self.marks)

    def link(self) -> str | None:
        return next((m.href for m in self.marks if m.kind == LINK), None)


@dataclass(frozen=True, slots=True)
class HardBreak:
    pass


Inline = Text | HardBreak


@dataclass(slots=True)
class Paragraph:
    children: list[Inline] = field(default_factory=list)
    align: str | None = None  # one of ALIGNMENTS; None: the theme's default
    dir: str | None = None  # one of DIRECTIONS; None: from the text (auto)


@dataclass(slots=True)
class Heading:
    level: int
    children: list[Inline] = field(default_factory=list)
    align: str | None = None
    dir: str | None = None


@dataclass(slots=True)
class Blockquote:
    children: list[Block] = field(default_factory=list)


@dataclass(slots=True)
class ListItem:
    children: list[Block] = field(default_factory=list)


@dataclass(slots=True)
class BulletList:
    items: list[ListItem] = field(default_factory=list)


@dataclass(slots=True)
class OrderedList:
    start: int = 1
    items: list[ListItem] = field(default_factory=list)


@dataclass(slots=True)
class TaskItem:
    checked: bool = False
    children: list[Block] = field(default_factory=list)


@dataclass(slots=True)
class TaskList:
    items: list[TaskItem] = field(default_factory=list)


@dataclass(slots=True)
class TableCell:
    children: list[Block] = field(default_factory=list)
    header: bool = False
    colspan: int = 1
    rowspan: int = 1


@dataclass(slots=True)
class TableRow:
    cells: list[TableCell] = field(default_factory=list)


@dataclass(slots=True)
class Table:
    rows: list[TableRow] = field(default_factory=list)


@dataclass(slots=True)
class CodeBlock:
    text: str
    language: str | None = None


@dataclass(slots=True)
class HorizontalRule:
    pass


@dataclass(slots=True)
class Image:
    src: str
    alt: str = ""
    title: str = ""
    width: int | None = None  # CSS pixels, as the editor's resize handle stores it
    height: int | None = None


Block = (
    Paragraph
    | Heading
    | Blockquote
    | BulletList
    | OrderedList
    | TaskList
    | Table
    | CodeBlock
    | HorizontalRule
    | Image
)


@dataclass(slots=True)
class Document:
    title: str
    blocks: list[Block] = field(default_factory=list)


def merge_runs(inlines: Iterable[Inline]) -> list[Inline]:
    """Join neighbouring runs with equal marks and drop empty ones (canonical form)."""
    out: list[Inline] = []
    for node in inlines:
        if isinstance(node, Text):
            if not node.text:
                continue
            last = out[-1] if out else None
            if isinstance(last, Text) and last.marks == node.marks:
                out[-1] = Text(last.text + node.text, node.marks)
                continue
        out.append(node)
    return out


def inline_text(inlines: Iterable[Inline]) -> str:
    return "".join(n.text if isinstance(n, Text) else "\n" for n in inlines)


def children_of(block: Block) -> list[list[Block]]:
    """The block lists nested directly in ``block`` (items, cells), in reading order."""
    if isinstance(block, Blockquote):
        return [block.children]
    if isinstance(block, BulletList | OrderedList | TaskList):
        return [item.children for item in block.items]
    if isinstance(block, Table):
        return [cell.children for row in block.rows for cell in row.cells]
    return []


def iter_inlines(blocks: Iterable[Block]) -> Iterator[Inline]:
    """All inline nodes in reading order (image alt text is not included)."""
    for block in blocks:
        if isinstance(block, Paragraph | Heading):
            yield from block.children
        elif isinstance(block, CodeBlock):
            yield Text(block.text)
        else:
            for nested in children_of(block):
                yield from iter_inlines(nested)


def base_direction(inlines: Iterable[Inline]) -> str:
    """ "rtl" or "ltr" from the first strong character (Unicode bidi rules P2-P3).

    Writers use it when a block has no ``dir``: a Hebrew or Arabic paragraph must
    still be laid out right to left where a format needs to be told.
    """
    for node in inlines:
        if isinstance(node, Text):
            for ch in node.text:
                kind = unicodedata.bidirectional(ch)
                if kind == "L":
                    return "ltr"
                if kind in ("R", "AL"):
                    return "rtl"
    return "ltr"


def plain_text(blocks: Iterable[Block]) -> str:
    """Text of the blocks, one block per line; used for word counts and checks."""
    lines: list[str] = []
    for block in blocks:
        if isinstance(block, Paragraph | Heading):
            lines.append(inline_text(block.children))
        elif isinstance(block, Blockquote):
            lines.append(plain_text(block.children))
        elif isinstance(block, CodeBlock):
            lines.append(block.text)
        elif isinstance(block, Image):
            lines.append(block.alt)
        else:
            lines.extend(plain_text(nested) for nested in children_of(block))
    return "\n".join(lines)


def split_scenes(doc: Document) -> list[Document]:
    """Split at top-level headings: each heading starts a scene titled by it.

    Text before the first heading becomes a scene named after the document; a
    heading with no body before the next one is still a scene (an empty one), since
    writers outline with bare headings. A scene's title is a name: cleaned as one.
    """
    scenes: list[Document] = []
    current = Document(doc.title)
    started = False  # current was opened by a heading
    for block in doc.blocks:
        if isinstance(block, Heading):
            if current.blocks or started:
                scenes.append(current)
            current = Document(clean_name(inline_text(block.children)) or doc.title)
            started = True
            continue
        current.blocks.append(block)
    if current.blocks or started or not scenes:
        scenes.append(current)
    return scenes
