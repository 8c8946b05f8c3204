"""Word (.docx) into the document tree.

python-docx opens the package (relationships, parts, core properties); the body is
then walked as XML, which is several times faster than python-docx's proxy objects
on a novel and reaches what they do not expose (fields, tracked changes, merged
cells, drawings).

What maps to what:

- Headings by style (``Heading 1``-``6``, or any style or paragraph with an outline
  level); ``Title`` is the document's title (its first use; later ones are level-1
  headings). Quotes by style (``Quote``, ``Intense Quote``, ``Block Text``), code by
  style (``Source Code``, ``HTML Preformatted``, any style named ``… Code``), scene
  breaks by Draftroom's ``Scene Break`` style.
- Lists by numbering: bullet or ordered from the level's number format, the start
  from the numbering's start (or its override), nesting from the level; a list
  item whose text starts with ☐/☑/☒ is a task item.
- Runs: bold, italic, underline, strike, sub/superscript, highlight (named or
  shading), colour, code (a character style named ``… Code``/``Verbatim``), links
  (``w:hyperlink`` and ``HYPERLINK`` fields), line breaks. Page breaks, bookmarks,
  comments, footnotes and the result of ``TOC`` fields are left out.
- Paragraph alignment (``w:jc``) and right-to-left direction (``w:bidi``).
- Tables with header rows (``w:tblHeader``), column spans (``w:gridSpan``) and
  vertical merges (``w:vMerge``) as row spans; nested tables too.
- Embedded images as ``data:`` URLs with their size in CSS pixels and their alt text
  (``descr``); linked (external) images are left out, never fetched.
- Tracked changes are read as accepted: insertions kept, deletions dropped.

Safety (all before python-docx parses a byte): an OLE compound file is an
encrypted .docx or a legacy .doc (415); a ZIP whose entries would unpack past the
limit, or unpack more than 100 times smaller than they claim, is refused (413);
a macro-enabled document (``.docm`` content type or a ``vbaProject.bin``) is
refused (415) rather than imported without its macros silently. XML entities are
not resolved (python-docx's parser), so no entity expansion bomb.
"""

from __future__ import annotations

import base64
import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from draftroom.document import tree
from draftroom.imports.errors import Malformed, TooBig, Unsupported
from draftroom.imports.html import safe_href
from draftroom.imports.inline import Runs, clean

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
WP = "http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing"
A = "http://schemas.openxmlformats.org/drawingml/2006/main"
MC = "http://schemas.openxmlformats.org/markup-compatibility/2006"
W14 = "http://schemas.microsoft.com/office/word/2010/wordml"

CFB_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
MAX_ENTRIES = 10_000
MAX_RATIO = 100  # a real DOCX part compresses 5-20x; a bomb, thousands of times
MAX_DEPTH = 16  # nested tables
EMU_PER_PX = 9525
_HIGHLIGHTS = {
    "yellow": "#ffff00",
    "green": "#00ff00",
    "cyan": "#00ffff",
    "magenta": "#ff00ff",
    "blue": "#0000ff",
    "red": "#ff0000",
    "darkBlue": "#000080",
    "darkCyan": "#008080",
    "darkGreen": "#008000",
    "darkMagenta": "#800080",
    "darkRed": "#800000",
    "darkYellow": "#808000",
    "darkGray": "#808080",
    "lightGray": "#c0c0c0",
    "black": "#000000",
    "white": "#ffffff",
}
_ALIGN = {
    "left": "left",
    "start": "left",
    "center": "center",
    "right": "right",
    "end": "right",
    "both": "justify",
    "distribute": "justify",
}
_QUOTE_STYLES = {"quote", "intense quote", "block text"}
_CODE_STYLES = {"source code", "html preformatted", "plain text", "code"}
_TASK_BOX = re.compile(r"^([\u2610\u2611\u2612])\s?")


def w(name: str) -> str:
    return f"{{{W}}}{name}"


def check_package(data: bytes, max_unpacked: int) -> None:
    """Refuse what must not reach the XML parser; see the module docstring."""
    if data.startswith(CFB_SIGNATURE):
        raise Unsupported(
            "encrypted or legacy .doc not supported: open it in Word and save it "
            "as a .docx without a password",
            code="encrypted_or_legacy",
        )
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError):
        raise Malformed("not a .docx file (not a ZIP package)") from None
    with archive:
        entries = archive.infolist()
        if len(entries) > MAX_ENTRIES:
            raise TooBig(f"the .docx holds over {MAX_ENTRIES} parts", code="zip_bomb")
        total = 0
        for entry in entries:
            total += entry.file_size
            ratio = entry.file_size / max(entry.compress_size, 1)
            if entry.file_size > 1024 * 1024 and ratio > MAX_RATIO:
                raise TooBig(
                    f"{entry.filename} would unpack {ratio:.0f} times its size", code="zip_bomb"
                )
        if total > max_unpacked:
            raise TooBig(
                f"the .docx unpacks to {total // (1024 * 1024)} MiB, over the "
                f"{max_unpacked // (1024 * 1024)} MiB limit",
                code="zip_bomb",
            )
        names = {e.filename for e in entries}
        if "[Content_Types].xml" not in names or "word/document.xml" not in names:
            raise Malformed("not a .docx file (no word/document.xml)")
        types = archive.read("[Content_Types].xml")
        if b"macroEnabled" in types or any(n.lower().endswith("vbaproject.bin") for n in names):
            raise Unsupported(
                "macro-enabled documents (.docm) are not imported: save it as a .docx "
                "(Word drops the macros)",
                code="macros_not_supported",
            )


def parse_docx(data: bytes, title: str = "", *, max_unpacked: int, max_image: int) -> tree.Document:
    check_package(data, max_unpacked)
    import docx  # python-docx: a second or so to import, only when a DOCX comes in

    try:
        package = docx.Document(io.BytesIO(data))
    except Exception as exc:  # python-docx raises many kinds on a broken package
        raise Malformed(f"the .docx cannot be read: {str(exc)[:200]}") from None
    walker = _Walker(package, max_image)
    try:
        body = package.element.body
        blocks = walker.blocks(body, 0)
    except (ValueError, KeyError, AttributeError) as exc:
        raise Malformed(f"the .docx cannot be read: {str(exc)[:200]}") from None
    core = clean(package.core_properties.title or "").strip()
    return tree.Document(title or core or walker.title, blocks)


@dataclass
class _Para:
    """One paragraph, before consecutive ones are grouped into lists, quotes, code."""

    kind: str  # paragraph, heading, quote, code, scene, caption, title
    inlines: list[tree.Inline]
    level: int = 0  # heading level
    align: str | None = None
    dir: str | None = None
    num: tuple[str, int] | None = None  # (numId, ilvl) for a list item
    ordered: bool = False
    start: int = 1
    code: str = ""  # text with line breaks as \n, for code
    images: list[tree.Image] = field(default_factory=list)
    continues: int = -1  # "List Continue": a later paragraph of the item at this level
    task: bool | None = None  # a checkbox content control's state
    indent: int = 0  # the paragraph's own left indent, twips


class _Walker:
    def __init__(self, package: Any, max_image: int) -> None:
        self.part = package.part
        self.max_image = max_image
        self.title = ""
        self.styles = _Styles(package)
        self.numbering = _Numbering(package)
        self.fields: list[list[str]] = []  # open complex fields: [instruction, phase]
        self.checkbox: bool | None = None  # in the paragraph being read

    # -- blocks ----------------------------------------------------------------

    def blocks(self, container: Any, depth: int) -> list[tree.Block]:
        items: list[_Para | tree.Block] = []
        for child in _content(container):
            if child.tag == w("p"):
                items.extend(self.paragraph(child))
            elif child.tag == w("tbl"):
                if depth < MAX_DEPTH:
                    table = self.table(child, depth + 1)
                    if table is not None:
                        items.append(table)
                else:  # too deep: its text, paragraph by paragraph
                    for p in child.iter(w("p")):
                        items.extend(self.paragraph(p))
        return _group(items)

    def table(self, tbl: Any, depth: int) -> tree.Table | None:
        rows: list[tree.TableRow] = []
        open_cells: dict[int, tree.TableCell] = {}  # grid column -> cell a vMerge continues
        for tr in _content(tbl, w("tr")):
            trpr = tr.find(w("trPr"))
            header = trpr is not None and _on(trpr.find(w("tblHeader")))
            cells: list[tree.TableCell] = []
            column = 0
            for tc in _content(tr, w("tc")):
                tcpr = tc.find(w("tcPr"))
                span = _int(_val(tcpr, "gridSpan"), 1) if tcpr is not None else 1
                merge = tcpr.find(w("vMerge")) if tcpr is not None else None
                if merge is not None and merge.get(w("val")) in (None, "continue"):
                    above = open_cells.get(column)
                    if above is not None:
                        above.rowspan += 1
                        column += span
                        continue
                content = self.blocks(tc, depth) or [tree.Paragraph()]
                _drop_after_tables(content)
                if header:
                    content = _unbold(content)
                cell = tree.TableCell(content, header, min(span, 64))
                if merge is not None:
                    open_cells[column] = cell
                else:
                    open_cells.pop(column, None)
                cells.append(cell)
                column += span
            if cells:
                rows.append(tree.TableRow(cells))
        return tree.Table(rows) if rows else None

    def paragraph(self, p: Any) -> list[_Para | tree.Block]:
        ppr = p.find(w("pPr"))
        style = self.styles.paragraph(_val(ppr, "pStyle") if ppr is not None else None)
        runs = Runs()
        images: list[tree.Image] = []
        code_lines: list[str] = []
        self.checkbox = None
        self.inlines(p, runs, images, [], code_lines)
        inlines = runs.take()
        task = self.checkbox
        if task is not None:
            inlines = _drop_space(inlines)  # the one that follows the box
        para = _Para("paragraph", inlines, images=images, task=task)
        if ppr is not None:
            para.align = _ALIGN.get(_val(ppr, "jc") or "")
            bidi = ppr.find(w("bidi"))
            para.dir = "rtl" if bidi is not None and _on(bidi) else None
            ind = ppr.find(w("ind"))
            if ind is not None:
                para.indent = _int(ind.get(w("left")) or ind.get(w("start")), 0)
        outline = _outline(ppr) if ppr is not None else None
        if outline is None:
            outline = style.outline
        name = style.name
        num = _num(ppr) if ppr is not None else None
        num = num or style.num
        if name == "title":
            text = clean(tree.inline_text(inlines).replace("\n", " ")).strip()
            if not text:
                return []  # an empty title line is layout
            if not self.title:  # the first is the document's title, not a block
                self.title = text
                return []
            para.kind = "title"
        elif outline is not None and outline < 6:
            para.kind, para.level = "heading", outline + 1
        elif name in _CODE_STYLES or name.endswith(" code"):
            para.kind, para.code = "code", "".join(code_lines)
        elif name == "scene break":
            para.kind = "scene"
        elif name == "caption":
            para.kind = "caption"
        elif num is not None and num[0] != "0":
            para.num = num
            para.ordered, para.start = self.numbering.format(*num)
        elif name.startswith("list continue"):
            para.continues = _int(name.removeprefix("list continue").strip() or "1", 1) - 1
        elif name in _QUOTE_STYLES:
            para.kind = "quote"
        return [para]

    # -- inline content -------------------------------------------------------------

    def inlines(
        self,
        parent: Any,
        runs: Runs,
        images: list[tree.Image],
        marks: list[tree.Mark],
        code: list[str],
    ) -> None:
        for child in parent:
            tag = child.tag
            if tag == w("r"):
                self.run(child, runs, images, marks, code)
            elif tag == w("hyperlink"):
                href = self._link(child)
                inner = [*marks, tree.Mark(tree.LINK, href)] if href else marks
                self.inlines(child, runs, images, inner, code)
            elif tag == w("fldSimple"):
                instr = child.get(w("instr")) or ""
                href = _field_link(instr)
                if instr.strip().upper().startswith("TOC"):
                    continue
                inner = [*marks, tree.Mark(tree.LINK, href)] if href else marks
                self.inlines(child, runs, images, inner, code)
            elif tag == w("sdt") and (box := _checkbox(child)) is not None:
                # A Word checkbox content control: the task item's box, not text.
                state = box.find(f"{{{W14}}}checked")
                self.checkbox = state is not None and state.get(f"{{{W14}}}val") in ("1", "true")
            elif tag in (w("ins"), w("smartTag"), w("customXml"), w("sdt"), w("sdtContent")):
                self.inlines(child, runs, images, marks, code)
            elif tag == f"{{{MC}}}AlternateContent":
                choice = child.find(f"{{{MC}}}Choice")
                if choice is not None:
                    self.inlines(choice, runs, images, marks, code)
            # w:del, w:bookmarkStart, w:commentRangeStart, w:proofErr...: nothing to show

    def run(
        self, r: Any, runs: Runs, images: list[tree.Image], marks: list[tree.Mark], code: list[str]
    ) -> None:
        rpr = r.find(w("rPr"))
        own = self._run_marks(rpr) if rpr is not None else []
        for child in r:
            tag = child.tag
            if tag == w("fldChar"):
                kind = child.get(w("fldCharType"))
                if kind == "begin":
                    self.fields.append(["", "instr"])
                elif kind == "separate" and self.fields:
                    self.fields[-1][1] = "result"
                elif kind == "end" and self.fields:
                    self.fields.pop()
                continue
            if tag == w("instrText"):
                if self.fields:
                    self.fields[-1][0] += child.text or ""
                continue
            if self._hidden():
                continue
            active = [*marks, *own, *self._field_marks()]
            if tag == w("t"):
                text = child.text or ""
                runs.add(text, active)
                code.append(text)
            elif tag == w("tab"):
                runs.add("\t", active)
                code.append("\t")
            elif tag in (w("br"), w("cr")):
                if child.get(w("type")) in ("page", "column"):
                    continue  # layout, not content
                runs.br()
                code.append("\n")
            elif tag == w("noBreakHyphen"):
                runs.add("-", active)
                code.append("-")
            elif tag == w("drawing"):
                image = self._image(child)
                if image is not None:
                    images.append(image)
            elif tag == f"{{{MC}}}AlternateContent":
                choice = child.find(f"{{{MC}}}Choice")
                if choice is not None:
                    for drawing in choice.iter(w("drawing")):
                        image = self._image(drawing)
                        if image is not None:
                            images.append(image)

    def _hidden(self) -> bool:
        """Inside a field's instruction, or a table of contents' cached entries."""
        for instr, phase in self.fields:
            if phase == "instr" or instr.strip().upper().startswith("TOC"):
                return True
        return False

    def _field_marks(self) -> list[tree.Mark]:
        found = []
        for instr, _phase in self.fields:
            href = _field_link(instr)
            if href:
                found.append(tree.Mark(tree.LINK, href))
        return found

    def _run_marks(self, rpr: Any) -> list[tree.Mark]:
        found: list[tree.Mark] = []
        style = self.styles.character(_val(rpr, "rStyle"))
        found.extend(style)
        for tag, mark in ((w("b"), tree.BOLD), (w("i"), tree.ITALIC)):
            el = rpr.find(tag)
            if el is not None:
                found = [m for m in found if m.kind != mark]
                if _on(el):
                    found.append(tree.Mark(mark))
        u = rpr.find(w("u"))
        if u is not None and u.get(w("val"), "single") != "none":
            found.append(tree.Mark(tree.UNDERLINE))
        if _on(rpr.find(w("strike"))) or _on(rpr.find(w("dstrike"))):
            found.append(tree.Mark(tree.STRIKE))
        align = _val(rpr, "vertAlign")
        if align == "subscript":
            found.append(tree.Mark(tree.SUBSCRIPT))
        elif align == "superscript":
            found.append(tree.Mark(tree.SUPERSCRIPT))
        highlight = _val(rpr, "highlight")
        shading = rpr.find(w("shd"))
        if highlight and highlight != "none":
            # Yellow is the highlight with no colour of its own (TipTap's default one).
            color = None if highlight == "yellow" else _HIGHLIGHTS.get(highlight)
            found.append(tree.Mark(tree.HIGHLIGHT, color=color))
        elif shading is not None and _hex(shading.get(w("fill"))):
            found.append(tree.Mark(tree.HIGHLIGHT, color=_hex(shading.get(w("fill")))))
        color = _hex(_val(rpr, "color"))
        if color:
            found.append(tree.Mark(tree.TEXT_COLOR, color=color))
        return found

    def _link(self, hyperlink: Any) -> str | None:
        rid = hyperlink.get(f"{{{R}}}id")
        if not rid:
            return None  # an anchor inside the document: no target outside it
        rel = self.part.rels.get(rid)
        if rel is None or not rel.is_external:
            return None
        return safe_href(rel.target_ref)

    def _image(self, drawing: Any) -> tree.Image | None:
        frame = next((c for c in drawing if c.tag in (f"{{{WP}}}inline", f"{{{WP}}}anchor")), None)
        if frame is None:
            return None
        blip = next(frame.iter(f"{{{A}}}blip"), None)
        rid = blip.get(f"{{{R}}}embed") if blip is not None else None
        if not rid:
            return None  # a linked picture: never fetched
        rel = self.part.rels.get(rid)
        if rel is None or rel.is_external:
            return None
        try:
            image_part = rel.target_part
            blob: bytes = image_part.blob
            content_type = str(image_part.content_type)
        except (AttributeError, KeyError, ValueError):
            return None
        doc_pr = frame.find(f"{{{WP}}}docPr")
        alt = clean((doc_pr.get("descr") if doc_pr is not None else "") or "")
        title = clean((doc_pr.get("title") if doc_pr is not None else "") or "")
        if len(blob) > self.max_image or not content_type.startswith("image/"):
            return None
        extent = frame.find(f"{{{WP}}}extent")
        width = _px(extent.get("cx")) if extent is not None else None
        height = _px(extent.get("cy")) if extent is not None else None
        src = f"data:{content_type};base64,{base64.b64encode(blob).decode()}"
        return tree.Image(src, alt, title, width, height)


# -- grouping consecutive paragraphs ----------------------------------------------------


def _group(items: list[_Para | tree.Block]) -> list[tree.Block]:
    out: list[tree.Block] = []
    i = 0
    while i < len(items):
        item = items[i]
        if not isinstance(item, _Para):
            out.append(item)
            i += 1
            continue
        if item.num is not None:
            j = i
            while j < len(items) and _in_list(items[j]):
                j += 1
            out.extend(_lists([p for p in items[i:j] if isinstance(p, _Para)]))
            i = j
            continue
        if item.kind == "quote":
            inside: list[tree.Block] = []
            j = i
            while j < len(items):
                if _kind(items[j]) == "quote":
                    inside.extend(_single(items[j]))  # type: ignore[arg-type]
                    j += 1
                    continue
                k = j
                while k < len(items) and _in_list(items[k]) and _quoted(items[k]):  # type: ignore[arg-type]
                    k += 1
                if k == j or _kind(items[j]) != "paragraph" or items[j].num is None:  # type: ignore[union-attr]
                    break
                # A list Word can only indent into the quote.
                inside.extend(_lists([p for p in items[j:k] if isinstance(p, _Para)]))
                j = k
            out.append(tree.Blockquote(inside))
            i = j
            continue
        if item.kind == "code":
            j = i
            while j < len(items) and _kind(items[j]) == "code":
                j += 1
            text = "\n".join(clean(p.code) for p in items[i:j] if isinstance(p, _Para))
            out.append(tree.CodeBlock(text))
            i = j
            continue
        if item.kind == "caption" and out and isinstance(out[-1], tree.Image):
            if tree.inline_text(item.inlines).strip() == out[-1].alt.strip():
                i += 1  # the caption Draftroom's export writes under a picture
                continue
        out.extend(_single(item))
        i += 1
    return out


def _drop_after_tables(content: list[tree.Block]) -> None:
    """Word needs a paragraph after a table inside a cell, and writers add one or two
    empty ones there (python-docx always does): empty paragraphs straight after a
    nested table are layout, not the writer's."""
    kept: list[tree.Block] = []
    for block in content:
        if block == tree.Paragraph() and kept and isinstance(kept[-1], tree.Table):
            continue
        kept.append(block)
    content[:] = kept or [tree.Paragraph()]


def _unbold(blocks: list[tree.Block]) -> list[tree.Block]:
    """A header cell all in bold is bold because it is a header (as Word and
    Draftroom's export draw them): the bold is the row's look, not the text's."""
    runs = [n for b in blocks if isinstance(b, tree.Paragraph) for n in b.children]
    texts = [n for n in runs if isinstance(n, tree.Text)]
    if not texts or not all(n.has(tree.BOLD) for n in texts):
        return blocks
    out: list[tree.Block] = []
    for block in blocks:
        if isinstance(block, tree.Paragraph):
            children: list[tree.Inline] = [
                tree.Text(n.text, frozenset(m for m in n.marks if m.kind != tree.BOLD))
                if isinstance(n, tree.Text)
                else n
                for n in block.children
            ]
            out.append(tree.Paragraph(children, block.align, block.dir))
        else:
            out.append(block)
    return out


def _quoted(p: _Para) -> bool:
    """A list item indented past its level's own indent by a quote's (half an inch,
    as Draftroom's export and Word's quote styles indent)."""
    if p.num is None:
        return True  # a later paragraph of a quoted item
    return p.indent >= 720 * (p.num[1] + 1) + 720


def _kind(item: _Para | tree.Block) -> str:
    return item.kind if isinstance(item, _Para) else ""


def _in_list(item: _Para | tree.Block) -> bool:
    return isinstance(item, _Para) and (item.num is not None or item.continues >= 0)


def _single(p: _Para) -> list[tree.Block]:
    blocks: list[tree.Block] = []
    if p.kind == "heading":
        blocks.append(tree.Heading(p.level, p.inlines, p.align, p.dir))
    elif p.kind == "title":
        blocks.append(tree.Heading(1, p.inlines, p.align, p.dir))
    elif p.kind == "scene":
        blocks.append(tree.HorizontalRule())
    elif p.inlines or not p.images:
        blocks.append(tree.Paragraph(p.inlines, p.align, p.dir))
    blocks.extend(p.images)
    return blocks


@dataclass
class _OpenList:
    level: int
    num_id: str
    ordered: bool
    start: int
    items: list[tuple[bool | None, list[tree.Block]]] = field(default_factory=list)

    def block(self) -> tree.Block:
        if any(task is not None for task, _ in self.items):
            return tree.TaskList([tree.TaskItem(bool(task), blocks) for task, blocks in self.items])
        items = [tree.ListItem(blocks) for _, blocks in self.items]
        return tree.OrderedList(self.start, items) if self.ordered else tree.BulletList(items)


def _lists(paras: list[_Para]) -> list[tree.Block]:
    """Consecutive list paragraphs into (nested) lists, by numbering id and level."""
    out: list[tree.Block] = []
    stack: list[_OpenList] = []

    def close_to(level: int) -> None:
        while stack and stack[-1].level > level:
            done = stack.pop()
            if stack and stack[-1].items:
                stack[-1].items[-1][1].append(done.block())
            else:
                out.append(done.block())

    for p in paras:
        if p.num is None:  # a later paragraph of an item
            close_to(p.continues)
            if stack and stack[-1].items:
                stack[-1].items[-1][1].extend(_single(p))
            else:
                out.extend(_single(p))
            continue
        num_id, level = p.num
        close_to(level)
        if stack and stack[-1].level == level and stack[-1].num_id != num_id:
            close_to(level - 1)  # another list at the same level
        if not stack or stack[-1].level < level:
            stack.append(_OpenList(level, num_id, p.ordered, p.start))
        inlines, task = (p.inlines, p.task) if p.task is not None else _task(p.inlines)
        stack[-1].items.append((task, [tree.Paragraph(inlines, p.align, p.dir), *p.images]))
    close_to(-1)
    return out


def _checkbox(sdt: Any) -> Any:
    return next(sdt.iter(f"{{{W14}}}checkbox"), None)


def _drop_space(inlines: list[tree.Inline]) -> list[tree.Inline]:
    first = inlines[0] if inlines else None
    if isinstance(first, tree.Text) and first.text.startswith(" "):
        rest = first.text[1:]
        return [*([tree.Text(rest, first.marks)] if rest else []), *inlines[1:]]
    return inlines


def _task(inlines: list[tree.Inline]) -> tuple[list[tree.Inline], bool | None]:
    first = inlines[0] if inlines else None
    if isinstance(first, tree.Text):
        match = _TASK_BOX.match(first.text)
        if match:
            rest = first.text[match.end() :]
            head = [tree.Text(rest, first.marks)] if rest else []
            return [*head, *inlines[1:]], match.group(1) != "\u2610"
    return inlines, None


# -- styles and numbering ---------------------------------------------------------------


@dataclass(frozen=True)
class _Style:
    name: str = ""  # lower case
    outline: int | None = None
    num: tuple[str, int] | None = None


class _Styles:
    """Paragraph styles by id, with what they inherit (name-based checks use the
    style or the first of its ancestors with a known name)."""

    def __init__(self, package: Any) -> None:
        self._by_id: dict[str, Any] = {}
        # Some writers name a style where its id belongs; Word falls back the same way.
        self._by_name: dict[str, Any] = {}
        self._para: dict[str | None, _Style] = {}
        self._char: dict[str | None, list[tree.Mark]] = {}
        try:
            root = package.styles.element
        except (AttributeError, KeyError, ValueError):
            return
        for style in root.iter(w("style")):
            sid = style.get(w("styleId"))
            if sid:
                self._by_id[sid] = style
            name = style.find(w("name"))
            if name is not None and name.get(w("val")):
                self._by_name.setdefault(name.get(w("val")).lower(), style)

    def _find(self, sid: str | None) -> Any:
        if not sid:
            return None
        return self._by_id.get(sid) if sid in self._by_id else self._by_name.get(sid.lower())

    def paragraph(self, sid: str | None) -> _Style:
        if sid not in self._para:
            self._para[sid] = self._resolve(sid, 0)
        return self._para[sid]

    def _resolve(self, sid: str | None, depth: int) -> _Style:
        style = self._find(sid)
        if style is None or depth > 10:
            return _Style()
        name_el = style.find(w("name"))
        name = (name_el.get(w("val")) if name_el is not None else sid or "").lower()
        ppr = style.find(w("pPr"))
        outline = _outline(ppr) if ppr is not None else None
        num = _num(ppr) if ppr is not None else None
        match = re.fullmatch(r"heading ([1-9])", name)
        if match:
            outline = int(match.group(1)) - 1
        based = style.find(w("basedOn"))
        parent = self._resolve(based.get(w("val")), depth + 1) if based is not None else _Style()
        known = name in _QUOTE_STYLES | _CODE_STYLES or name.startswith(("list", "heading"))
        known = known or name in ("title", "caption", "scene break") or name.endswith(" code")
        return _Style(
            name if known or not parent.name else parent.name,
            outline if outline is not None else parent.outline,
            num or parent.num,
        )

    def character(self, sid: str | None) -> list[tree.Mark]:
        if sid not in self._char:
            style = self._find(sid)
            marks: list[tree.Mark] = []
            if style is not None:
                name_el = style.find(w("name"))
                name = (name_el.get(w("val")) if name_el is not None else "").lower()
                if name in ("strong",):
                    marks.append(tree.Mark(tree.BOLD))
                elif name in ("emphasis",):
                    marks.append(tree.Mark(tree.ITALIC))
                elif "code" in name or "verbatim" in name:
                    marks.append(tree.Mark(tree.CODE))
            self._char[sid] = marks
        return self._char[sid]


class _Numbering:
    """numId + level -> (ordered, start), from the numbering part."""

    def __init__(self, package: Any) -> None:
        self._levels: dict[tuple[str, int], tuple[bool, int]] = {}
        try:
            root = package.part.numbering_part.element
        except (AttributeError, KeyError, NotImplementedError, ValueError):
            return
        abstract: dict[str, dict[int, tuple[bool, int]]] = {}
        for node in root.iter(w("abstractNum")):
            levels: dict[int, tuple[bool, int]] = {}
            for lvl in node.iter(w("lvl")):
                fmt = _val(lvl, "numFmt") or "decimal"
                levels[_int(lvl.get(w("ilvl")), 0)] = (
                    fmt not in ("bullet", "none"),
                    _int(_val(lvl, "start"), 1),
                )
            abstract[node.get(w("abstractNumId")) or ""] = levels
        for num in root.iter(w("num")):
            num_id = num.get(w("numId")) or ""
            levels = dict(abstract.get(_val(num, "abstractNumId") or "", {}))
            for override in num.iter(w("lvlOverride")):
                level = _int(override.get(w("ilvl")), 0)
                start = _val(override, "startOverride")
                if start is not None:
                    ordered = levels.get(level, (True, 1))[0]
                    levels[level] = (ordered, _int(start, 1))
            for level, value in levels.items():
                self._levels[(num_id, level)] = value

    def format(self, num_id: str, level: int) -> tuple[bool, int]:
        return self._levels.get((num_id, level), (False, 1))


# -- small XML helpers ----------------------------------------------------------------


def _content(parent: Any, tag: str | None = None) -> Iterator[Any]:
    """Children, looking through content controls and tracked insertions."""
    for child in parent:
        if child.tag in (w("sdt"), w("customXml"), w("ins")):
            inner = child.find(w("sdtContent")) if child.tag == w("sdt") else child
            if inner is not None:
                yield from _content(inner, tag)
        elif tag is None or child.tag == tag:
            yield child


def _val(parent: Any, name: str) -> str | None:
    el = parent.find(w(name)) if parent is not None else None
    return el.get(w("val")) if el is not None else None


def _on(el: Any) -> bool:
    """A toggle property: present and not switched off."""
    return el is not None and el.get(w("val"), "true").lower() not in ("0", "false", "off")


def _outline(ppr: Any) -> int | None:
    value = _val(ppr, "outlineLvl")
    level = _int(value, 9) if value is not None else None
    return level if level is not None and level < 9 else None


def _num(ppr: Any) -> tuple[str, int] | None:
    num_pr = ppr.find(w("numPr"))
    if num_pr is None:
        return None
    num_id = _val(num_pr, "numId")
    if num_id is None:
        return None
    return num_id, min(_int(_val(num_pr, "ilvl"), 0), 8)


def _hex(value: str | None) -> str | None:
    if value and re.fullmatch(r"[0-9A-Fa-f]{6}", value):
        return "#" + value.lower()
    return None


def _px(emu: str | None) -> int | None:
    size = _int(emu, 0) // EMU_PER_PX
    return size if 0 < size <= 20_000 else None


def _int(value: str | None, default: int) -> int:
    try:
        return int(value or "")
    except ValueError:
        return default


def _field_link(instr: str) -> str | None:
    match = re.match(r'\s*HYPERLINK\s+"([^"]+)"', instr)
    return safe_href(match.group(1)) if match else None
