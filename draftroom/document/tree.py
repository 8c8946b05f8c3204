"""A small, typed document tree that every export writer renders from.

The reader turns a pycrdt document into this tree once; writers never touch pycrdt.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

BOLD = "bold"
ITALIC = "italic"
UNDERLINE = "underline"
STRIKE = "strike"
CODE = "code"
LINK = "link"
MARK_KINDS = (LINK, BOLD, ITALIC, STRIKE, UNDERLINE, CODE)  # outermost first


@dataclass(frozen=True, slots=True)
class Mark:
    kind: str
    href: str | None = None  # only for links

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


@dataclass(slots=True)
class Heading:
    level: int
    children: list[Inline] = field(default_factory=list)


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


Block = (
    Paragraph | Heading | Blockquote | BulletList | OrderedList | CodeBlock | HorizontalRule | Image
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


def iter_inlines(blocks: Iterable[Block]) -> Iterator[Inline]:
    """All inline nodes in reading order (image alt text is not included)."""
    for block in blocks:
        if isinstance(block, Paragraph | Heading):
            yield from block.children
        elif isinstance(block, Blockquote):
            yield from iter_inlines(block.children)
        elif isinstance(block, BulletList | OrderedList):
            for item in block.items:
                yield from iter_inlines(item.children)
        elif isinstance(block, CodeBlock):
            yield Text(block.text)


def plain_text(blocks: Iterable[Block]) -> str:
    """Text of the blocks, one block per line; used for word counts and checks."""
    lines: list[str] = []
    for block in blocks:
        if isinstance(block, Paragraph | Heading):
            lines.append(inline_text(block.children))
        elif isinstance(block, Blockquote):
            lines.append(plain_text(block.children))
        elif isinstance(block, BulletList | OrderedList):
            lines.extend(plain_text(item.children) for item in block.items)
        elif isinstance(block, CodeBlock):
            lines.append(block.text)
        elif isinstance(block, Image):
            lines.append(block.alt)
    return "\n".join(lines)


def split_scenes(doc: Document) -> list[Document]:
    """Split at top-level headings: each heading starts a scene titled by it.

    Text before the first heading becomes a scene named after the document.
    """
    scenes: list[Document] = []
    current = Document(doc.title)
    for block in doc.blocks:
        if isinstance(block, Heading):
            if current.blocks or scenes:
                scenes.append(current)
            current = Document(inline_text(block.children).strip() or doc.title)
            continue
        current.blocks.append(block)
    if current.blocks or not scenes:
        scenes.append(current)
    return scenes
