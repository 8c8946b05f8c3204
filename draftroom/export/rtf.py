"""A small RTF 1.9 writer for the export tree (used for Scrivener content.rtf files)."""

from __future__ import annotations

from draftroom.document.tree import (
    BOLD,
    CODE,
    ITALIC,
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
    OrderedList,
    Paragraph,
    merge_runs,
)
from draftroom.export.safety import safe_link

_HEADER = (
    "{\\rtf1\\ansi\\ansicpg1252\\uc1\\deff0\n"
    "{\\fonttbl{\\f0\\froman\\fcharset0 Times New Roman;}{\\f1\\fmodern\\fcharset0 Courier New;}}\n"
    "{\\colortbl;\\red0\\green0\\blue0;\\red5\\green99\\blue193;}\n"
    "\\paperw11906\\paperh16838\\margl1440\\margr1440\\margt1440\\margb1440\n"
)
_HEADING_SIZES = {1: 36, 2: 32, 3: 28, 4: 26, 5: 24, 6: 24}  # half-points
_BODY = "\\pard\\plain\\f0\\fs24\\sa120"
_MARK_CONTROLS = ((BOLD, "\\b"), (ITALIC, "\\i"), (UNDERLINE, "\\ul"), (STRIKE, "\\strike"))


def render_rtf(doc: Document) -> bytes:
    out: list[str] = [_HEADER]
    _blocks(doc.blocks, out, indent=0)
    out.append("}\n")
    # Everything above ASCII was escaped, so this never fails.
    return "".join(out).encode("ascii")


def escape(text: str) -> str:
    """RTF-escape text: control characters, and \\uN? for anything beyond ASCII.

    N is a signed 16-bit number; characters above U+FFFF become a UTF-16
    surrogate pair, as Word and Scrivener write them.
    """
    out: list[str] = []
    for ch in text:
        code = ord(ch)
        if ch in "\\{}":
            out.append("\\" + ch)
        elif ch == "\t":
            out.append("\\tab ")
        elif ch == "\n":
            out.append("\\line ")
        elif 32 <= code < 127:
            out.append(ch)
        elif code < 32:
            continue
        elif code <= 0xFFFF:
            out.append(f"\\u{code - 0x10000 if code > 0x7FFF else code}?")
        else:
            code -= 0x10000
            for unit in (0xD800 + (code >> 10), 0xDC00 + (code & 0x3FF)):
                out.append(f"\\u{unit - 0x10000}?")
    return "".join(out)


def _blocks(blocks: list[Block], out: list[str], indent: int) -> None:
    for block in blocks:
        _block(block, out, indent)


def _par(out: list[str], indent: int, extra: str, content: str) -> None:
    left = f"\\li{indent}" if indent else ""
    out.append(f"{_BODY}{left}{extra} {content}\\par\n")


def _block(block: Block, out: list[str], indent: int) -> None:
    if isinstance(block, Paragraph):
        _par(out, indent, "\\fi360" if not indent else "", _inlines(block.children))
    elif isinstance(block, Heading):
        size = _HEADING_SIZES.get(block.level, 24)
        _par(
            out,
            indent,
            f"\\sb240\\keepn\\outlinelevel{block.level - 1}\\b\\fs{size}",
            _inlines(block.children),
        )
    elif isinstance(block, Blockquote):
        _blocks(block.children, out, indent + 720)
    elif isinstance(block, BulletList | OrderedList):
        for n, item in enumerate(block.items):
            label = f"{block.start + n}." if isinstance(block, OrderedList) else "\\u8226?"
            first, *rest = item.children or [Paragraph()]
            item_indent = indent + 720
            if isinstance(first, Paragraph | Heading):
                _par(out, item_indent, "\\fi-360", f"{label}\\tab {_inlines(first.children)}")
            else:
                _par(out, item_indent, "\\fi-360", f"{label}\\tab ")
                rest = [first, *rest]
            _blocks(rest, out, item_indent)
    elif isinstance(block, CodeBlock):
        _par(out, indent, "\\f1\\fs20", escape(block.text))
    elif isinstance(block, HorizontalRule):
        _par(out, indent, "\\qc", "#")
    elif isinstance(block, Image):
        _par(out, indent, "\\qc\\i", escape(f"[Image: {block.alt or block.title or block.src}]"))


def _inlines(inlines: list[Inline]) -> str:
    out: list[str] = []
    for node in merge_runs(inlines):
        if isinstance(node, HardBreak):
            out.append("\\line ")
            continue
        controls = "".join(ctl for kind, ctl in _MARK_CONTROLS if node.has(kind))
        if node.has(CODE):
            controls += "\\f1"
        text = escape(node.text)
        href = safe_link(node.link())
        if href:
            target = escape(href).replace('"', "%22")
            text = (
                f'{{\\field{{\\*\\fldinst{{HYPERLINK "{target}"}}}}'
                f"{{\\fldrslt{{\\ul\\cf2 {text}}}}}}}"
            )
        out.append(f"{{{controls} {text}}}" if controls else text)
    return "".join(out)
