# ruff: noqa: RUF001 - the document is full of look-alike characters on purpose
"""One "everything" document: every TipTap node and mark, written as TipTap writes it.

The fidelity suite (``test_fidelity.py``) exports it to every format and opens each
file in a real consumer. It holds what broke exports before: control characters in
text and title, a 1,000-character title, a 400-character URL, CJK, RTL and emoji.
"""

from __future__ import annotations

import base64
import struct
import zlib
from typing import Any

from pycrdt import Doc

from draftroom.document.reader import read_document
from draftroom.document.tree import Document

from .builders import B, C, El, I, S, U, el, h, li, link, make_doc, ol, p, txt, ul

LONG_URL = "https://example.com/" + "a1b2c3d4e5" * 38  # 400 characters, no break
TITLE = "The Everything Document \x0b" + "亦" * 10 + " " + "word " * 195  # > 1,000 chars
assert len(LONG_URL) == 400 and len(TITLE) > 1000
RTL_TEXT = "שלום עולם, זה טקסט מימין לשמאל"
CJK_TEXT = "中文段落：春眠不觉晓，处处闻啼鸟。日本語のテキスト。한국어 문장."
EMOJI_TEXT = "Emoji 😀 👍🏽 👨\u200d👩\u200d👧 and 𝔘𝔫𝔦𝔠𝔬𝔡𝔢"
CONTROL_TEXT = "Control characters: vt\x0b ff\x0c esc\x1b bel\x07 gone."

SUB: dict[str, Any] = {"subscript": {}}
SUP: dict[str, Any] = {"superscript": {}}
HL: dict[str, Any] = {"highlight": {}}
HL_GREEN: dict[str, Any] = {"highlight": {"color": "#00ff00"}}
RED: dict[str, Any] = {"textStyle": {"color": "#ff0000"}}


def png(width: int, height: int) -> str:
    """A data: URI of a real PNG of that size in pixels (solid grey)."""
    row = b"\x00" + b"\x80\x80\x80" * width
    raw = zlib.compress(row * height)

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _cell(tag: str, text: str, **attrs: Any) -> El:
    return el(tag, attrs, p(text))


def everything_blocks() -> list[El]:
    return [
        h(1, "Heading one"),
        p(
            "Plain, ",
            ("bold", B),
            ", ",
            ("italic", I),
            ", ",
            ("underline", U),
            ", ",
            ("strike", S),
            ", ",
            ("code", C),
            ", H",
            ("2", SUB),
            "O, E=mc",
            ("2", SUP),
            ", ",
            ("highlighted", HL),
            ", ",
            ("green mark", HL_GREEN),
            ", ",
            ("red text", RED),
            ", ",
            ("a link", link("https://example.org/page")),
            ", ",
            ("SHOUTING LINK", link("HTTPS://EXAMPLE.ORG/UPPER")),
            ", ",
            ("script link", link("javascript:alert(1)")),
            ".",
        ),
        h(2, "Heading two"),
        h(3, "Heading three"),
        el("heading", {"level": 4}, txt("Heading four")),
        el("heading", {"level": 5}, txt("Heading five")),
        el("heading", {"level": 6}, txt("Heading six")),
        el("paragraph", {"textAlign": "center"}, txt("Centred paragraph.")),
        el("paragraph", {"textAlign": "right"}, txt("Right-aligned paragraph.")),
        el("paragraph", {"textAlign": "justify"}, txt("Justified paragraph " * 8)),
        el("paragraph", {"dir": "rtl", "textAlign": "right"}, txt(RTL_TEXT)),
        p(RTL_TEXT + " (no dir attribute)"),
        p(CJK_TEXT),
        p(EMOJI_TEXT),
        p(CONTROL_TEXT),
        el("paragraph", None),  # an empty paragraph: a blank line the writer meant
        p("Long URL: ", (LONG_URL, link(LONG_URL))),
        p("Bare long URL text " + LONG_URL),
        p("Line one", el("hardBreak"), "line two after a hard break"),
        el(
            "blockquote",
            None,
            p("Quoted paragraph."),
            ul(li("list inside a quote"), li("second quoted item")),
        ),
        ul(li("bullet one", ul(li("nested bullet"))), li("bullet two")),
        ol(3, li("third"), li("fourth", ol(1, li("nested number")))),
        el(
            "taskList",
            None,
            el("taskItem", {"checked": True}, p("done task")),
            el("taskItem", {"checked": False}, p("open task")),
        ),
        el(
            "table",
            None,
            el(
                "tableRow",
                None,
                _cell("tableHeader", "Name"),
                _cell("tableHeader", "Role"),
                _cell("tableHeader", "Notes"),
            ),
            el(
                "tableRow",
                None,
                _cell("tableCell", "Ann", rowspan=2),
                _cell("tableCell", "Writer"),
                _cell("tableCell", "中文 cell"),
            ),
            el("tableRow", None, _cell("tableCell", "Editor and reviewer", colspan=2)),
        ),
        el("codeBlock", {"language": "python"}, txt("def f(x):\n    return x  # ok")),
        el("horizontalRule"),
        el("image", {"src": png(40, 20), "alt": "A small grey box", "title": "Box"}),
        el("image", {"src": png(1200, 100), "alt": "A very wide picture", "width": 2000}),
        el("image", {"src": png(30, 30), "alt": "Resized picture", "width": 120}),
        el("image", {"src": "https://example.com/remote.png", "alt": "Remote picture"}),
        p("The end."),
    ]


def everything_ydoc() -> Doc:
    return make_doc(*everything_blocks())


def everything() -> Document:
    return read_document(everything_ydoc(), TITLE)


# Text every format must keep (control characters already gone, as the reader drops them).
MUST_KEEP = [
    "Heading one",
    "bold",
    "highlighted",
    "red text",
    "Centred paragraph.",
    "שלום",
    "春眠不觉晓",
    "日本語",
    "한국어",
    "😀",
    "vt ff esc bel gone.",
    "list inside a quote",
    "nested bullet",
    "nested number",
    "done task",
    "open task",
    "Editor and reviewer",
    "中文 cell",
    "return x",
    "The end.",
]
