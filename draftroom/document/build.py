"""Writing a document tree into a Yjs document, the way TipTap and y-prosemirror store it.

The reader (``reader.py``) turns a rich-text root into the tree; this is its inverse,
used by imports. Whatever it writes, the reader reads back as the same tree, and a
TipTap editor opens it as the same content: each block is an ``XmlElement`` named
after its node type with the node's attributes, each run of text an ``XmlText``
whose formatting attributes are the ProseMirror marks (``{"bold": {}}``,
``{"link": {"href": ...}}``), and an inline node (a hard break) an element between
two texts.

Everything goes in within one transaction: pycrdt slows down badly when the server
makes many small positional edits (see the crdt notes), while one transaction of
appends costs about as much as loading the same state.

Where the tree leaves a hole the TipTap schema does not allow (a list item that does
not start with a paragraph, an empty quote), an empty paragraph fills it, as
ProseMirror would do on load; a tree without such holes reads back unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from pycrdt import Doc, Text, XmlElement, XmlFragment, XmlText

from draftroom.document import tree
from draftroom.document.schema import FRAGMENT_NAMES, PLAIN_TEXT_NAME, rich_fragment

# TipTap's Link extension writes these beside the href; a client fills them in anyway
# when they are missing, but a document written here then looks like one it wrote.
_LINK_DEFAULTS: dict[str, Any] = {
    "target": "_blank",
    "rel": "noopener noreferrer nofollow",
    "class": None,
}


def write_blocks(fragment: XmlFragment | XmlElement, blocks: Iterable[tree.Block]) -> None:
    """Append ``blocks`` to ``fragment`` (inside the caller's transaction)."""
    for block in blocks:
        _append(fragment, block)


def replace_content(doc: Doc, blocks: Sequence[tree.Block]) -> None:
    """Make ``blocks`` the whole document, in one transaction.

    A rich document keeps its root (``default`` or ``prosemirror``); a plain-text
    one (a Y.Text, as plain bindings write) gets the blocks' text instead, so the
    editors that opened it as text still see everything.
    """
    with doc.transaction():
        fragment = _target(doc)
        if fragment is None:
            body = doc.get(PLAIN_TEXT_NAME, type=Text)
            body.clear()
            body.insert(0, tree.plain_text(blocks))
            return
        # Every rich root is emptied, or the reader could pick a stale one.
        for name in FRAGMENT_NAMES:
            root = doc.get(name, type=XmlFragment)
            if len(root.children):
                del root.children[0 : len(root.children)]
        write_blocks(fragment, blocks)


def append_content(doc: Doc, blocks: Sequence[tree.Block]) -> None:
    """Add ``blocks`` after the document's content, in one transaction."""
    with doc.transaction():
        fragment = _target(doc)
        if fragment is None:
            body = doc.get(PLAIN_TEXT_NAME, type=Text)
            current = str(body)
            joiner = "\n" if current and not current.endswith("\n") else ""
            # Text offsets are code points (XmlText's are UTF-8 bytes).
            body.insert(len(current), joiner + tree.plain_text(blocks))
            return
        write_blocks(fragment, blocks)


def build_update(document: tree.Document) -> bytes:
    """A whole new document as one Yjs update (TipTap's ``default`` root)."""
    doc: Doc = Doc()
    with doc.transaction():
        write_blocks(doc.get(FRAGMENT_NAMES[0], type=XmlFragment), document.blocks)
    return doc.get_update()


def _target(doc: Doc) -> XmlFragment | None:
    """The rich root to write to; None for a non-empty plain-text document."""
    fragment = rich_fragment(doc)
    if fragment is not None:
        return fragment
    if len(str(doc.get(PLAIN_TEXT_NAME, type=Text))):
        return None
    return doc.get(FRAGMENT_NAMES[0], type=XmlFragment)


def _append(parent: XmlFragment | XmlElement, block: tree.Block) -> None:
    if isinstance(block, tree.Paragraph):
        attrs: dict[str, Any] = {"textAlign": block.align, "dir": block.dir}
        _inline_element(parent, "paragraph", attrs, block.children)
    elif isinstance(block, tree.Heading):
        level = min(max(block.level, 1), 6)
        attrs = {"level": level, "textAlign": block.align, "dir": block.dir}
        _inline_element(parent, "heading", attrs, block.children)
    elif isinstance(block, tree.Blockquote):
        quote = _element(parent, "blockquote", {})
        _blocks_or_paragraph(quote, block.children)
    elif isinstance(block, tree.BulletList | tree.OrderedList):
        tag = "bulletList" if isinstance(block, tree.BulletList) else "orderedList"
        attrs = {"start": block.start} if isinstance(block, tree.OrderedList) else {}
        if block.items:
            listing = _element(parent, tag, attrs)
            for item in block.items:
                _list_item(listing, item)
    elif isinstance(block, tree.TaskList):
        if block.items:
            tasks = _element(parent, "taskList", {})
            for task in block.items:
                element = _element(tasks, "taskItem", {"checked": task.checked})
                write_blocks(element, _starting_with_paragraph(task.children))
    elif isinstance(block, tree.Table):
        rows = [row for row in block.rows if row.cells]
        if rows:
            table = _element(parent, "table", {})
            for row in rows:
                tr = _element(table, "tableRow", {})
                for cell in row.cells:
                    _cell(tr, cell)
    elif isinstance(block, tree.CodeBlock):
        code = _element(parent, "codeBlock", {"language": block.language})
        if block.text:
            code.children.append(XmlText(block.text))
    elif isinstance(block, tree.HorizontalRule):
        _element(parent, "horizontalRule", {})
    elif isinstance(block, tree.Image):
        attrs = {"src": block.src, "alt": block.alt, "title": block.title}
        attrs |= {"width": block.width, "height": block.height}
        _element(parent, "image", attrs)


def _list_item(listing: XmlElement, item: tree.ListItem) -> None:
    element = _element(listing, "listItem", {})
    write_blocks(element, _starting_with_paragraph(item.children))


def _starting_with_paragraph(blocks: Sequence[tree.Block]) -> list[tree.Block]:
    """TipTap's list and task items hold "paragraph block*"."""
    out = list(blocks)
    if not out or not isinstance(out[0], tree.Paragraph):
        out.insert(0, tree.Paragraph())
    return out


def _cell(row: XmlElement, cell: tree.TableCell) -> None:
    attrs = {"colspan": max(cell.colspan, 1), "rowspan": max(cell.rowspan, 1)}
    element = _element(row, "tableHeader" if cell.header else "tableCell", attrs)
    _blocks_or_paragraph(element, cell.children)


def _blocks_or_paragraph(parent: XmlElement, blocks: Sequence[tree.Block]) -> None:
    write_blocks(parent, blocks if blocks else [tree.Paragraph()])


def _element(parent: XmlFragment | XmlElement, tag: str, attrs: dict[str, Any]) -> XmlElement:
    # pycrdt types attribute values as str; Yjs (and pycrdt underneath) take any
    # JSON value, and TipTap expects numbers and booleans where its schema has them.
    # y-prosemirror leaves null attributes out (the schema's default applies).
    element: XmlElement = parent.children.append(XmlElement(tag))
    for key, value in attrs.items():
        if value is not None:
            element.attributes[key] = value
    return element


def _inline_element(
    parent: XmlFragment | XmlElement,
    tag: str,
    attrs: dict[str, Any],
    inlines: Sequence[tree.Inline],
) -> None:
    element = _element(parent, tag, attrs)
    text: XmlText | None = None
    at = 0  # XmlText offsets are UTF-8 bytes in pycrdt 0.14
    for node in inlines:
        if isinstance(node, tree.HardBreak):
            element.children.append(XmlElement("hardBreak"))
            text = None
            continue
        if not isinstance(node, tree.Text) or not node.text:
            continue
        for i, part in enumerate(node.text.split("\n")):
            if i:  # a newline inside a run is a line break in every editor
                element.children.append(XmlElement("hardBreak"))
                text = None
            if not part:
                continue
            if text is None:
                text = element.children.append(XmlText())
                at = 0
            text.insert(at, part, _formatting(node.marks) or None)
            at += len(part.encode("utf-8"))


def _formatting(marks: Iterable[tree.Mark]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for mark in marks:
        if mark.kind == tree.LINK:
            out[tree.LINK] = {"href": mark.href, **_LINK_DEFAULTS}
        elif mark.kind in (tree.HIGHLIGHT, tree.TEXT_COLOR):
            out[mark.kind] = {"color": mark.color}
        else:
            out[mark.kind] = {}
    return out
