"""A small RTF 1.9 writer for the export tree (used for Scrivener content.rtf files).

Scrivener reads RTF through the macOS text system, so this writes what that system
writes: real lists (``\\listtable``, ``\\ls``, with ``\\listtext`` for readers that
ignore list tables), named paragraph styles in a ``\\stylesheet`` (Scrivener 3's own
"Block Quote", "Heading 1"... so a quote is a quote, not just an indent), tables
(``\\trowd``; header rows repeat with ``\\trhdr``, a row span is ``\\clvmgf``/``\\clvmrg``,
a column span one wider cell), ``\\sub``/``\\super``, colours from a ``\\colortbl``
built per file (text ``\\cf``, highlight ``\\highlight`` and ``\\cb``), alignment
(``\\qc``...), right-to-left paragraphs (``\\rtlpar``) and embedded PNG/JPEG pictures
(``\\pict``) at their own size capped to the text width. RTF has no checkbox: task
items show ☐/☑. A table inside a table cell is written as its text.
"""

from __future__ import annotations

import base64
import binascii
import re
import struct

from draftroom.document import tree
from draftroom.export.safety import plain_line, safe_image, safe_link
from draftroom.export.tables import grid, header_rows

_FONTS = (
    "{\\fonttbl{\\f0\\froman\\fcharset0 Times New Roman;}"
    "{\\f1\\fmodern\\fcharset0 Courier New;}{\\f2\\fswiss\\fcharset0 DejaVu Sans;}}\n"
)
_PAGE = "\\paperw11906\\paperh16838\\margl1440\\margr1440\\margt1440\\margb1440\n"
TEXT_WIDTH = 11906 - 2 * 1440  # twips
TWIPS_PER_PX = 15  # a CSS pixel is 1/96 inch, a twip 1/1440
_HEADING_SIZES = {1: 36, 2: 32, 3: 28, 4: 26, 5: 24, 6: 24}  # half-points
_BODY = "\\pard\\plain\\f0\\fs24\\sa120"
_MARK_CONTROLS = (
    (tree.BOLD, "\\b"),
    (tree.ITALIC, "\\i"),
    (tree.UNDERLINE, "\\ul"),
    (tree.STRIKE, "\\strike"),
)
_ALIGN = {"center": "\\qc", "right": "\\qr", "justify": "\\qj"}
LINK_COLOR = "#0563c1"
DEFAULT_HIGHLIGHT = "#ffff00"
# Style numbers: 0 Normal, 1-6 Heading N, 7 Block Quote, 8 Code Block (Scrivener's names).
QUOTE_STYLE, CODE_STYLE = 7, 8


def render_rtf(doc: tree.Document) -> bytes:
    writer = _Writer()
    body: list[str] = []
    writer.blocks(doc.blocks, body, indent=0, quote=False)
    header = ["{\\rtf1\\ansi\\ansicpg1252\\uc1\\deff0\n", _FONTS, writer.color_table()]
    header += [_stylesheet(), writer.list_tables(), _PAGE]
    # Everything above ASCII was escaped, so this never fails.
    return "".join([*header, *body, "}\n"]).encode("ascii")


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


def _stylesheet() -> str:
    styles = ["{\\s0\\f0\\fs24\\sa120 Normal;}"]
    for level, size in _HEADING_SIZES.items():
        styles.append(
            f"{{\\s{level}\\sbasedon0\\snext0\\b\\fs{size}\\sb240\\keepn Heading {level};}}"
        )
    styles.append(f"{{\\s{QUOTE_STYLE}\\sbasedon0\\snext0\\li720\\ri720\\i Block Quote;}}")
    styles.append(f"{{\\s{CODE_STYLE}\\sbasedon0\\snext0\\f1\\fs20 Code Block;}}")
    return "{\\stylesheet" + "".join(styles) + "}\n"


class _Writer:
    def __init__(self) -> None:
        self.colors: list[str] = [LINK_COLOR]  # \cf1 is the link colour
        self.lists: list[tuple[bool, int]] = []  # (ordered, start) per \ls number

    def color(self, value: str) -> int:
        if value not in self.colors:
            self.colors.append(value)
        return self.colors.index(value) + 1  # entry 0 is "auto"

    def color_table(self) -> str:
        entries = "".join(
            f"\\red{int(c[1:3], 16)}\\green{int(c[3:5], 16)}\\blue{int(c[5:7], 16)};"
            for c in self.colors
        )
        return "{\\colortbl;" + entries + "}\n"

    def list_tables(self) -> str:
        if not self.lists:
            return ""
        lists, overrides = [], []
        for n, (ordered, start) in enumerate(self.lists, 1):
            if ordered:
                marker = "{\\*\\levelmarker \\{decimal\\}.}"
                text = f"{{\\leveltext\\leveltemplateid{n}\\'02\\'00.;}}{{\\levelnumbers\\'01;}}"
                nfc = 0
            else:
                marker = "{\\*\\levelmarker \\{disc\\}}"
                text = f"{{\\leveltext\\leveltemplateid{n}\\'01\\u8226 ?;}}{{\\levelnumbers;}}"
                nfc = 23
            lists.append(
                f"{{\\list\\listtemplateid{n}\\listsimple{{\\listlevel\\levelnfc{nfc}\\levelnfcn{nfc}"
                f"\\leveljc0\\leveljcn0\\levelfollow0\\levelstartat{start}\\levelspace360"
                f"\\levelindent0{marker}{text}\\fi-360\\li720\\lin720 }}"
                f"{{\\listname ;}}\\listid{n}}}"
            )
            overrides.append(f"{{\\listoverride\\listid{n}\\listoverridecount0\\ls{n}}}")
        return (
            "{\\*\\listtable" + "".join(lists) + "}\n"
            "{\\*\\listoverridetable" + "".join(overrides) + "}\n"
        )

    # --- blocks -----------------------------------------------------------

    def blocks(self, blocks: list[tree.Block], out: list[str], indent: int, quote: bool) -> None:
        for block in blocks:
            self.block(block, out, indent, quote)

    def par(
        self, out: list[str], indent: int, extra: str, content: str, quote: bool = False
    ) -> None:
        style = f"\\s{QUOTE_STYLE}\\i\\ri720" if quote else ""
        left = f"\\li{indent}" if indent else ""
        out.append(f"{_BODY}{style}{left}{extra} {content}\\par\n")

    def block(self, block: tree.Block, out: list[str], indent: int, quote: bool) -> None:
        if isinstance(block, tree.Paragraph):
            first = "\\fi360" if not indent and not quote else ""
            layout = _layout(block.dir or tree.base_direction(block.children), block.align)
            self.par(out, indent, first + layout, self.inlines(block.children), quote)
        elif isinstance(block, tree.Heading):
            size = _HEADING_SIZES.get(block.level, 24)
            layout = _layout(block.dir or tree.base_direction(block.children), block.align)
            style = f"\\s{block.level}\\sb240\\keepn\\outlinelevel{block.level - 1}"
            self.par(out, indent, f"{style}\\b\\fs{size}{layout}", self.inlines(block.children))
        elif isinstance(block, tree.Blockquote):
            self.blocks(block.children, out, indent + 720, quote=True)
        elif isinstance(block, tree.BulletList | tree.OrderedList):
            self.list_block(block, out, indent, quote)
        elif isinstance(block, tree.TaskList):
            for task in block.items:
                box = "\\u9745?" if task.checked else "\\u9744?"  # ☑ / ☐
                self.item(task.children, out, indent + 720, quote, f"{{\\f2 {box}}}\\tab ", "")
        elif isinstance(block, tree.Table):
            self.table(block, out, indent)
        elif isinstance(block, tree.CodeBlock):
            self.par(out, indent, f"\\s{CODE_STYLE}\\f1\\fs20", escape(block.text))
        elif isinstance(block, tree.HorizontalRule):
            self.par(out, indent, "\\qc", "#")
        elif isinstance(block, tree.Image):
            self.par(out, indent, "\\qc", self.picture(block))

    def list_block(
        self, block: tree.BulletList | tree.OrderedList, out: list[str], indent: int, quote: bool
    ) -> None:
        ordered = isinstance(block, tree.OrderedList)
        start = block.start if isinstance(block, tree.OrderedList) else 1
        self.lists.append((ordered, start))
        number = len(self.lists)
        for n, item in enumerate(block.items):
            label = f"{start + n}." if ordered else "\\u8226?"
            # \listtext is what a reader without list support shows instead.
            listtext = f"{{\\listtext\\tab {label}\\tab }}"
            self.item(item.children, out, indent + 720, quote, listtext, f"\\ls{number}\\ilvl0")

    def item(
        self,
        children: list[tree.Block],
        out: list[str],
        indent: int,
        quote: bool,
        label: str,
        numbering: str,
    ) -> None:
        first, *rest = children or [tree.Paragraph()]
        if isinstance(first, tree.Paragraph | tree.Heading):
            content = self.inlines(first.children)
        else:
            content = ""
            rest = [first, *rest]
        self.par(out, indent, f"\\fi-360{numbering}", f"{label}{content}", quote)
        self.blocks(rest, out, indent, quote)

    def table(self, table: tree.Table, out: list[str], indent: int) -> None:
        slots = grid(table)
        width = len(slots[0]) if slots else 0
        if not width:
            return
        column = max((TEXT_WIDTH - indent) // width, 200)
        heads = header_rows(table)
        for r, row in enumerate(slots):
            defs = [f"\\trowd\\trgaph108\\trleft{indent}" + ("\\trhdr" if r < heads else "")]
            cells = []
            edge = indent
            for slot in row:
                if slot is not None and not slot.first_col:
                    continue  # covered by the wider cell to its left
                span = slot.colspan if slot else 1
                edge += column * span
                merge = ""
                if slot is not None and slot.rowspan > 1:
                    merge = "\\clvmgf" if slot.first_row else "\\clvmrg"
                borders = "".join(f"\\clbrdr{side}\\brdrs\\brdrw10" for side in "tlbr")
                defs.append(f"{merge}{borders}\\cellx{edge}")
                text = ""
                if slot is not None and slot.first_row:
                    text = self.cell_text(slot.cell.children)
                    if slot.cell.header:
                        text = f"{{\\b {text}}}"
                cells.append(f"\\pard\\intbl\\plain\\f0\\fs24 {text}\\cell\n")
            out.append("".join(defs) + "\n" + "".join(cells) + "\\row\n")
        out.append("\\pard\\plain\\f0\\fs24\\par\n")

    def cell_text(self, blocks: list[tree.Block]) -> str:
        parts = []
        for block in blocks:
            if isinstance(block, tree.Paragraph | tree.Heading):
                parts.append(self.inlines(block.children))
            else:
                parts.append(escape(tree.plain_text([block])))
        return "\\line ".join(parts)

    def picture(self, image: tree.Image) -> str:
        """An embedded PNG or JPEG (``\\pict``), else a visible placeholder."""
        placeholder = "{\\i " + escape(f"[Image: {image.alt or image.title or image.src}]") + "}"
        src = safe_image(image.src)
        match = re.match(r"data:image/(png|jpeg);base64,", src or "", re.I)
        if not src or not match:
            return placeholder
        try:
            data = base64.b64decode(src[match.end() :], validate=False)
        except (binascii.Error, ValueError):
            return placeholder
        size = _pixel_size(data)
        if size is None:
            return placeholder
        px_w, px_h = size
        width = image.width * TWIPS_PER_PX if image.width else px_w * TWIPS_PER_PX
        height = round(width * px_h / px_w)
        if width > TEXT_WIDTH:
            width, height = TEXT_WIDTH, round(height * TEXT_WIDTH / width)
        blip = "\\pngblip" if match.group(1).lower() == "png" else "\\jpegblip"
        description = escape(plain_line(image.alt))
        return (
            f"{{\\pict{blip}\\picw{px_w}\\pich{px_h}\\picwgoal{width}\\pichgoal{max(height, 1)}"
            f"{{\\*\\picprop{{\\sp{{\\sn wzDescription}}{{\\sv {description}}}}}}}"
            f"\n{data.hex()}}}"
        )

    # --- inline content -----------------------------------------------------

    def inlines(self, inlines: list[tree.Inline]) -> str:
        out: list[str] = []
        for node in tree.merge_runs(inlines):
            if isinstance(node, tree.HardBreak):
                out.append("\\line ")
                continue
            controls = "".join(ctl for kind, ctl in _MARK_CONTROLS if node.has(kind))
            for mark in node.marks:
                if mark.kind == tree.SUBSCRIPT:
                    controls += "\\sub"
                elif mark.kind == tree.SUPERSCRIPT:
                    controls += "\\super"
                elif mark.kind == tree.TEXT_COLOR and mark.color:
                    controls += f"\\cf{self.color(mark.color)}"
                elif mark.kind == tree.HIGHLIGHT:
                    n = self.color(mark.color or DEFAULT_HIGHLIGHT)
                    controls += f"\\highlight{n}\\cb{n}"
            if node.has(tree.CODE):
                controls += "\\f1"
            text = escape(node.text)
            href = safe_link(node.link())
            if href:
                target = escape(href).replace('"', "%22")
                text = (
                    f'{{\\field{{\\*\\fldinst{{HYPERLINK "{target}"}}}}'
                    f"{{\\fldrslt{{\\ul\\cf1 {text}}}}}}}"
                )
            out.append(f"{{{controls} {text}}}" if controls else text)
        return "".join(out)


def _layout(direction: str | None, align: str | None) -> str:
    controls = "\\rtlpar" if direction == "rtl" else ""
    # TipTap stores its default "left" on every paragraph: it means "not set".
    if align in _ALIGN:
        controls += _ALIGN[align]
    return controls


def _pixel_size(data: bytes) -> tuple[int, int] | None:
    """Width and height of a PNG or JPEG, read from its header."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return (width, height) if width and height else None
    if data.startswith(b"\xff\xd8"):
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                return None
            marker, length = data[i + 1], struct.unpack(">H", data[i + 2 : i + 4])[0]
            if marker in (0xC0, 0xC1, 0xC2):
                height, width = struct.unpack(">HH", data[i + 5 : i + 9])
                return (width, height) if width and height else None
            i += 2 + length
    return None
