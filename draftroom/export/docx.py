"""DOCX writer (python-docx): real Word styles, numbering, hyperlinks, page setup.

Every node and mark becomes the construct Word itself writes for it: tables with
repeating header rows and merged cells (``gridSpan``/``vMerge``), task items as
Word checkbox content controls (``w14:checkbox``, showing ☐/☒ as Word does, which
pandoc also reads back as a task list), ``w:vertAlign`` sub/superscript,
``w:highlight`` (Word has 16 highlight colours: the nearest one), ``w:color``,
``w:jc`` alignment, ``w:bidi`` right-to-left paragraphs, pictures at their own size
(or width attribute) capped to the text width with the alt text as the picture's
description. ``toc`` adds a real TOC field (Word fills it in when the file is
opened); manuscript mode adds the running header "Surname / Title / page".
Runs name their character style by style id (``VerbatimChar``), not by name: Word
and LibreOffice look styles up by id.
"""

from __future__ import annotations

import base64
import binascii
import io

import docx
import docx.document
from docx.enum.style import WD_STYLE_TYPE
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_LINE_SPACING
from docx.image.image import Image as PictureInfo
from docx.opc.constants import RELATIONSHIP_TYPE
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Emu, Inches, Mm, Pt, RGBColor
from docx.table import _Cell
from docx.text.hyperlink import Hyperlink
from docx.text.paragraph import Paragraph as DocxParagraph

from draftroom.document import tree
from draftroom.export.formats import ExportFormat
from draftroom.export.options import ExportOptions
from draftroom.export.safety import plain_line, safe_link
from draftroom.export.tables import grid, header_rows

MONO_FONT = "Liberation Mono"
SERIF_FONT = "Times New Roman"  # LibreOffice substitutes Liberation Serif (same metrics)
_BULLETS = ("\u2022", "\u25e6", "\u25aa")
# Core properties (title, subject, ...) are limited to 255 characters by the format.
MAX_PROPERTY = 255
RUNNING_TITLE_CHARS = 40
EMU_PER_PX = 9525  # a CSS pixel is 1/96 inch
_JC = {"center": "center", "right": "right", "justify": "both", "left": "left"}
# Word's highlight palette (w:highlight values) and their colours.
_HIGHLIGHTS = {
    "yellow": (255, 255, 0),
    "green": (0, 255, 0),
    "cyan": (0, 255, 255),
    "magenta": (255, 0, 255),
    "blue": (0, 0, 255),
    "red": (255, 0, 0),
    "darkBlue": (0, 0, 128),
    "darkCyan": (0, 128, 128),
    "darkGreen": (0, 128, 0),
    "darkMagenta": (128, 0, 128),
    "darkRed": (128, 0, 0),
    "darkYellow": (128, 128, 0),
    "darkGray": (128, 128, 128),
    "lightGray": (192, 192, 192),
    "black": (0, 0, 0),
    "white": (255, 255, 255),
}


def render_docx(docs: list[tree.Document], options: ExportOptions) -> bytes:
    writer = _Writer(options)
    if options.toc and docs:
        writer.toc()
    for n, doc in enumerate(docs):
        writer.document(doc, first=n == 0 and not options.toc)
    out = io.BytesIO()
    writer.save(out, docs)
    return out.getvalue()


class _Writer:
    def __init__(self, options: ExportOptions) -> None:
        self.options = options
        self.doc = docx.Document()
        self.body = self.doc.element.body
        self._setup_page()
        self._setup_styles()
        self.numbering = _Numbering(self.doc)
        self._links: dict[str, str] = {}  # href -> relationship id
        self.parent: docx.document.Document | _Cell = self.doc  # where blocks go
        self.styles = _StyleIds(
            code=self.doc.styles["Verbatim Char"].style_id,
            link=self.doc.styles["Hyperlink"].style_id,
        )
        self.text_width = int(Mm(options.page_mm[0] - 2 * options.margins_mm))
        self._pictures = 0

    # --- setup ------------------------------------------------------------

    def _setup_page(self) -> None:
        width, height = self.options.page_mm
        margin = Mm(self.options.margins_mm)
        for section in self.doc.sections:
            section.page_width, section.page_height = Mm(width), Mm(height)
            section.left_margin = section.right_margin = margin
            section.top_margin = section.bottom_margin = margin

    def _setup_styles(self) -> None:
        styles = self.doc.styles
        code = styles.add_style("Source Code", WD_STYLE_TYPE.PARAGRAPH)
        code.base_style = styles["Normal"]
        code.font.name = MONO_FONT
        code.font.size = Pt(10)
        code.paragraph_format.space_after = Pt(6)
        code.paragraph_format.first_line_indent = Pt(0)
        code.paragraph_format.line_spacing_rule = WD_LINE_SPACING.SINGLE
        verbatim = styles.add_style("Verbatim Char", WD_STYLE_TYPE.CHARACTER)
        verbatim.font.name = MONO_FONT
        link = styles.add_style("Hyperlink", WD_STYLE_TYPE.CHARACTER)
        link.font.color.rgb = RGBColor(0x05, 0x63, 0xC1)
        link.font.underline = True
        scene = styles.add_style("Scene Break", WD_STYLE_TYPE.PARAGRAPH)
        scene.base_style = styles["Normal"]
        scene.paragraph_format.alignment = WD_ALIGN_PARAGRAPH.CENTER
        scene.paragraph_format.first_line_indent = Pt(0)
        if self.options.manuscript:
            self._manuscript_styles()

    def _manuscript_styles(self) -> None:
        # Standard manuscript format: 12 pt serif, double spaced, 0.5" first-line
        # indent, no space between paragraphs, plain centred chapter headings.
        styles = self.doc.styles
        normal = styles["Normal"]
        normal.font.name = SERIF_FONT
        normal.font.size = Pt(12)
        fmt = normal.paragraph_format
        fmt.line_spacing_rule = WD_LINE_SPACING.DOUBLE
        fmt.first_line_indent = Inches(0.5)
        fmt.space_before = fmt.space_after = Pt(0)
        names = ["Title", *(f"Heading {n}" for n in range(1, 7))]
        for name in names:
            style = styles[name]
            style.font.name = SERIF_FONT
            style.font.size = Pt(12)
            style.font.bold = name != "Title"
            style.font.color.rgb = RGBColor(0, 0, 0)
            style.paragraph_format.alignment = WD_ALIGN_PARAGRAPH.CENTER
            style.paragraph_format.first_line_indent = Pt(0)
            style.paragraph_format.line_spacing_rule = WD_LINE_SPACING.DOUBLE
            style.paragraph_format.space_before = Pt(0)
            style.paragraph_format.space_after = Pt(12)

    # --- content ----------------------------------------------------------

    def toc(self) -> None:
        """A real TOC field: Word builds the entries (with page numbers) on opening,
        since ``updateFields`` is set; until then it shows a one-line hint."""
        self.doc.add_paragraph("Contents", style="TOC Heading")
        para = self.doc.add_paragraph()
        _field(para, 'TOC \\o "1-6" \\h \\z \\u', "Update the field to see the contents.")
        settings = self.doc.settings.element
        update = _val("w:updateFields", "true")
        # Schema order: updateFields precedes compat and what follows it.
        later = {qn(f"w:{n}") for n in ("hdrShapeDefaults", "footnotePr", "endnotePr", "compat")}
        anchor = next((c for c in settings if c.tag in later), None)
        if anchor is not None:
            anchor.addprevious(update)
        else:
            settings.append(update)

    def document(self, doc: tree.Document, *, first: bool) -> None:
        title = self.doc.add_paragraph(doc.title, style="Title")
        _direction(title, tree.base_direction([tree.Text(doc.title)]), None)
        # Each document of a compiled manuscript starts on a new page.
        title.paragraph_format.page_break_before = not first
        title.paragraph_format.keep_with_next = True
        self.blocks(doc.blocks, quote=0)

    def blocks(self, blocks: list[tree.Block], *, quote: int, list_level: int = -1) -> None:
        for block in blocks:
            self.block(block, quote=quote, list_level=list_level)

    def block(self, block: tree.Block, *, quote: int, list_level: int) -> None:
        if isinstance(block, tree.Paragraph):
            style = "Quote" if quote else None
            if list_level >= 0:
                style = (
                    "List Continue"
                    if list_level == 0
                    else f"List Continue {min(list_level + 1, 3)}"
                )
            para = self.parent.add_paragraph(style=style)
            self._indent_quote(para, quote)
            self.inlines(para, block.children)
            _direction(para, block.dir or tree.base_direction(block.children), block.align)
        elif isinstance(block, tree.Heading):
            para = self.parent.add_paragraph(style=f"Heading {block.level}")
            self.inlines(para, block.children)
            _direction(para, block.dir or tree.base_direction(block.children), block.align)
        elif isinstance(block, tree.Blockquote):
            self.blocks(block.children, quote=quote + 1, list_level=list_level)
        elif isinstance(block, tree.BulletList | tree.OrderedList | tree.TaskList):
            self.list_block(block, quote=quote, level=list_level + 1)
        elif isinstance(block, tree.Table):
            self.table(block)
        elif isinstance(block, tree.CodeBlock):
            para = self.parent.add_paragraph(style="Source Code")
            run = para.add_run()
            for n, line in enumerate(block.text.split("\n")):
                if n:
                    run.add_break()
                run.add_text(line)
        elif isinstance(block, tree.HorizontalRule):
            self.parent.add_paragraph(
                "#" if self.options.manuscript else "* * *", style="Scene Break"
            )
        elif isinstance(block, tree.Image):
            self.image(block)

    def list_block(
        self, block: tree.BulletList | tree.OrderedList | tree.TaskList, *, quote: int, level: int
    ) -> None:
        ordered = isinstance(block, tree.OrderedList)
        start = block.start if isinstance(block, tree.OrderedList) else 1
        num_id = self.numbering.new_list(ordered, level, start)
        level = min(level, 8)
        base = "List Number" if ordered else "List Bullet"
        style = base if level == 0 else f"{base} {min(level + 1, 3)}"
        for item in block.items:
            children = list(item.children)
            first = children[0] if children else None
            para = self.parent.add_paragraph(style=style)
            _set_numbering(para, num_id, level)
            if quote:
                # A list quoted stays inside the quote's indent (Word has no nesting).
                para.paragraph_format.left_indent = Inches(0.5 * quote + 0.5 * (level + 1))
                para.paragraph_format.first_line_indent = Inches(-0.25)
            if isinstance(item, tree.TaskItem):
                para._p.append(_checkbox(item.checked))
                para._p.append(_text_run(" "))
            if isinstance(first, tree.Paragraph | tree.Heading):
                self.inlines(para, first.children)
                if isinstance(first, tree.Paragraph):
                    _direction(para, first.dir or tree.base_direction(first.children), first.align)
                children = children[1:]
            self.blocks(children, quote=quote, list_level=level)

    def table(self, table: tree.Table) -> None:
        slots = grid(table)
        width = len(slots[0]) if slots else 0
        if not width:
            return
        docx_table = self.parent.add_table(rows=len(slots), cols=width)
        docx_table.style = self.doc.styles["Table Grid"]
        heads = header_rows(table)
        if heads:
            look = OxmlElement("w:tblLook")
            look.set(qn("w:firstRow"), "1")
            look.set(qn("w:val"), "0020")
            docx_table._tbl.tblPr.append(look)
        for r in range(heads):
            # Header rows repeat at the top of every page the table runs onto.
            tr_pr = docx_table.rows[r]._tr.get_or_add_trPr()
            tr_pr.append(_val("w:tblHeader", "true"))
        origins = []
        for r, row in enumerate(slots):
            for c, slot in enumerate(row):
                if slot is None or not (slot.first_row and slot.first_col):
                    continue
                cell = docx_table.cell(r, c)
                if slot.colspan > 1 or slot.rowspan > 1:
                    cell = cell.merge(docx_table.cell(r + slot.rowspan - 1, c + slot.colspan - 1))
                origins.append((cell, slot.cell))
        outer = self.parent
        for docx_cell, cell in origins:
            self.parent = docx_cell
            placeholder = docx_cell.paragraphs[0]._p
            self.blocks(cell.children, quote=0)
            if len(docx_cell.paragraphs) > 1 or docx_cell.tables:
                placeholder.getparent().remove(placeholder)  # a cell needs one paragraph
            if cell.header:
                for para in docx_cell.paragraphs:
                    # A link's runs sit inside its w:hyperlink, where ``para.runs``
                    # does not look: a header row is bold all through, links too.
                    for item in para.iter_inner_content():
                        for run in item.runs if isinstance(item, Hyperlink) else [item]:
                            run.bold = True
        self.parent = outer
        if isinstance(outer, _Cell):
            outer.add_paragraph()  # a cell must end with a paragraph

    def image(self, image: tree.Image) -> None:
        data = _data_uri(image.src)
        if data is not None:
            try:
                info = PictureInfo.from_blob(data)
            except Exception:  # not an image python-docx understands: a placeholder
                info = None
            if info is not None:
                para = self.parent.add_paragraph()
                para.alignment = WD_ALIGN_PARAGRAPH.CENTER
                # A picture as wide as the text must not be pushed past the margin by
                # the manuscript's first-line indent.
                para.paragraph_format.first_line_indent = Pt(0)
                width, height = self._picture_size(image, info)
                para.add_run().add_picture(io.BytesIO(data), width=Emu(width), height=Emu(height))
                doc_pr = para._p.find(".//" + qn("wp:docPr"))
                if doc_pr is not None:
                    self._pictures += 1
                    doc_pr.set("id", str(self._pictures))
                    doc_pr.set("descr", plain_line(image.alt))
                    if image.title:
                        doc_pr.set("title", plain_line(image.title))
                if image.alt:
                    self.parent.add_paragraph(image.alt, style="Caption")
                return
        # Remote images are never fetched by the exporter; keep a visible placeholder.
        para = self.parent.add_paragraph(style="Caption")
        para.add_run(f"[Image: {image.alt or image.title or image.src}]")

    def _picture_size(self, image: tree.Image, info: PictureInfo) -> tuple[int, int]:
        """EMU: the width attribute (CSS px) or the picture's own size, capped to the
        text width, the aspect ratio kept (the height attribute only without a width)."""
        px_w, px_h = max(info.px_width, 1), max(info.px_height, 1)
        if image.width:
            width = image.width * EMU_PER_PX
            height = round(width * px_h / px_w)
        elif image.height:
            height = image.height * EMU_PER_PX
            width = round(height * px_w / px_h)
        else:  # pixels as the editor shows them: CSS pixels, whatever DPI the file claims
            width, height = px_w * EMU_PER_PX, px_h * EMU_PER_PX
        limit = self.text_width
        if isinstance(self.parent, _Cell):
            limit = int(self.parent.width or limit)
        if width > limit:
            width, height = limit, round(height * limit / width)
        return int(width), max(int(height), 1)

    def inlines(self, para: DocxParagraph, inlines: list[tree.Inline]) -> None:
        p = para._p
        last = None
        for node in inlines:
            if isinstance(node, tree.HardBreak):
                r = OxmlElement("w:r")
                r.append(_break())
                p.append(r)
                last = None
                continue
            r = _run(node, self.styles)
            href = safe_link(node.link())
            if href:
                if last is not None and last[0] == href:
                    last[1].append(r)
                    continue
                link = self._hyperlink(href)
                link.append(r)
                p.append(link)
                last = (href, link)
            else:
                p.append(r)
                last = None

    def _hyperlink(self, href: str):  # type: ignore[no-untyped-def]
        rid = self._links.get(href)
        if rid is None:
            rid = self.doc.part.relate_to(href, RELATIONSHIP_TYPE.HYPERLINK, is_external=True)
            self._links[href] = rid
        link = OxmlElement("w:hyperlink")
        link.set(qn("r:id"), rid)
        link.set(qn("w:history"), "1")
        return link

    def _indent_quote(self, para: DocxParagraph, quote: int) -> None:
        if quote > 1:
            para.paragraph_format.left_indent = Inches(0.5 * quote)

    # --- finish -----------------------------------------------------------

    def running_header(self, docs: list[tree.Document]) -> None:
        """Manuscript format's header on every page, right-aligned: Surname / Title / page."""
        author = self.options.author.split()
        title = self.options.project_title or (docs[0].title if docs else "")
        if len(title) > RUNNING_TITLE_CHARS:
            title = title[: RUNNING_TITLE_CHARS - 1].rstrip() + "\u2026"
        parts = [p for p in (author[-1] if author else "", title) if p]
        for section in self.doc.sections:
            header = section.header
            para = header.paragraphs[0] if header.paragraphs else header.add_paragraph()
            para.alignment = WD_ALIGN_PARAGRAPH.RIGHT
            para.paragraph_format.first_line_indent = Pt(0)
            para.add_run(" / ".join([*parts, ""]))
            _field(para, "PAGE", "1")

    def save(self, out: io.BytesIO, docs: list[tree.Document]) -> None:
        if self.options.manuscript:
            self.running_header(docs)
        props = self.doc.core_properties
        title = self.options.project_title or (docs[0].title if docs else "")
        props.title = title[:MAX_PROPERTY]
        props.author = self.options.author[:MAX_PROPERTY]
        props.last_modified_by = self.options.author[:MAX_PROPERTY]
        now = self.options.now.replace(microsecond=0)
        props.created = props.modified = now
        props.revision = 1
        self.doc.save(out)


class _StyleIds:
    __slots__ = ("code", "link")

    def __init__(self, code: str, link: str) -> None:
        self.code, self.link = code, link


def _run(node: tree.Text, styles: _StyleIds):  # type: ignore[no-untyped-def]
    # Built with oxml directly: python-docx's Run API costs ~4x more per run and
    # a novel has tens of thousands of runs.
    r = OxmlElement("w:r")
    marks = {m.kind: m for m in node.marks}
    if marks:
        # Children in the schema's order (CT_RPr is a sequence).
        rpr = OxmlElement("w:rPr")
        if node.link():
            rpr.append(_val("w:rStyle", styles.link))
        elif tree.CODE in marks:
            rpr.append(_val("w:rStyle", styles.code))
        if tree.BOLD in marks:
            rpr.append(OxmlElement("w:b"))
        if tree.ITALIC in marks:
            rpr.append(OxmlElement("w:i"))
        if tree.STRIKE in marks:
            rpr.append(OxmlElement("w:strike"))
        if tree.TEXT_COLOR in marks and marks[tree.TEXT_COLOR].color:
            rpr.append(_val("w:color", str(marks[tree.TEXT_COLOR].color)[1:].upper()))
        if tree.HIGHLIGHT in marks:
            rpr.append(_val("w:highlight", _nearest_highlight(marks[tree.HIGHLIGHT].color)))
        if tree.UNDERLINE in marks:
            rpr.append(_val("w:u", "single"))
        if tree.SUBSCRIPT in marks or tree.SUPERSCRIPT in marks:
            rpr.append(
                _val("w:vertAlign", "subscript" if tree.SUBSCRIPT in marks else "superscript")
            )
        if len(rpr):
            r.append(rpr)
    t = OxmlElement("w:t")
    t.text = node.text
    t.set("{http://www.w3.org/XML/1998/namespace}space", "preserve")
    r.append(t)
    return r


def _nearest_highlight(color: str | None) -> str:
    if not color:
        return "yellow"
    rgb = tuple(int(color[i : i + 2], 16) for i in (1, 3, 5))
    return min(
        _HIGHLIGHTS,
        key=lambda name: sum((a - b) ** 2 for a, b in zip(_HIGHLIGHTS[name], rgb, strict=True)),
    )


def _direction(para: DocxParagraph, direction: str | None, align: str | None) -> None:
    """``w:bidi`` for a right-to-left paragraph, ``w:jc`` for an explicit alignment.

    TipTap stores its default "left" on every paragraph: it means "not set". In a
    bidi paragraph Word reads left/right as start/end, so they are swapped there.
    """
    ppr = None
    if direction == "rtl":
        ppr = para._p.get_or_add_pPr()
        _insert_ppr(ppr, OxmlElement("w:bidi"))
    if align and align != "left":
        jc = _JC[align]
        if direction == "rtl" and jc in ("left", "right"):
            jc = "left" if jc == "right" else "right"
            if jc == "left":
                return  # the start of a right-to-left paragraph is already the right
        ppr = ppr if ppr is not None else para._p.get_or_add_pPr()
        existing = ppr.find(qn("w:jc"))
        if existing is not None:
            ppr.remove(existing)
        _insert_ppr(ppr, _val("w:jc", jc))


# CT_PPr children in schema order, as far as this writer uses them.
_PPR_ORDER = [
    "pStyle",
    "keepNext",
    "keepLines",
    "pageBreakBefore",
    "numPr",
    "spacing",
    "ind",
    "bidi",
    "jc",
    "rPr",
]


def _insert_ppr(ppr, element) -> None:  # type: ignore[no-untyped-def]
    name = element.tag.split("}")[1]
    rank = _PPR_ORDER.index(name)
    for child in ppr:
        child_name = child.tag.split("}")[1]
        if child_name in _PPR_ORDER and _PPR_ORDER.index(child_name) > rank:
            child.addprevious(element)
            return
    ppr.append(element)


def _text_run(text: str):  # type: ignore[no-untyped-def]
    r = OxmlElement("w:r")
    t = OxmlElement("w:t")
    t.text = text
    t.set("{http://www.w3.org/XML/1998/namespace}space", "preserve")
    r.append(t)
    return r


def _checkbox(checked: bool):  # type: ignore[no-untyped-def]
    """A Word checkbox content control (Word 2010+), showing ☒ or ☐ as Word does."""
    sdt = OxmlElement("w:sdt")
    sdt_pr = OxmlElement("w:sdtPr")
    box = OxmlElement("w14:checkbox")
    state = OxmlElement("w14:checked")
    state.set(qn("w14:val"), "1" if checked else "0")
    box.append(state)
    for tag, code in (("w14:checkedState", "2612"), ("w14:uncheckedState", "2610")):
        glyph = OxmlElement(tag)
        glyph.set(qn("w14:val"), code)
        glyph.set(qn("w14:font"), "MS Gothic")
        box.append(glyph)
    sdt_pr.append(box)
    sdt.append(sdt_pr)
    content = OxmlElement("w:sdtContent")
    content.append(_text_run("\u2612" if checked else "\u2610"))
    sdt.append(content)
    return sdt


def _field(para: DocxParagraph, instruction: str, shown: str) -> None:
    """A complex field (begin / instruction / separate / result / end)."""
    p = para._p
    for kind, text in (("begin", None), (None, instruction), ("separate", None)):
        r = OxmlElement("w:r")
        if kind:
            char = OxmlElement("w:fldChar")
            char.set(qn("w:fldCharType"), kind)
            if kind == "begin":
                char.set(qn("w:dirty"), "true")
            r.append(char)
        else:
            instr = OxmlElement("w:instrText")
            instr.set("{http://www.w3.org/XML/1998/namespace}space", "preserve")
            instr.text = f" {text} "
            r.append(instr)
        p.append(r)
    p.append(_text_run(shown))
    r = OxmlElement("w:r")
    end = OxmlElement("w:fldChar")
    end.set(qn("w:fldCharType"), "end")
    r.append(end)
    p.append(r)


def _val(tag: str, value: str):  # type: ignore[no-untyped-def]
    el = OxmlElement(tag)
    el.set(qn("w:val"), value)
    return el


def _break():  # type: ignore[no-untyped-def]
    br = OxmlElement("w:br")
    return br


def _set_numbering(para: DocxParagraph, num_id: int, level: int) -> None:
    ppr = para._p.get_or_add_pPr()
    num_pr = OxmlElement("w:numPr")
    num_pr.append(_val("w:ilvl", str(level)))
    num_pr.append(_val("w:numId", str(num_id)))
    # numPr must follow pStyle/keepNext/…/pageBreakBefore etc.; after pStyle is valid.
    style = ppr.find(qn("w:pStyle"))
    if style is not None:
        style.addnext(num_pr)
    else:
        ppr.insert(0, num_pr)


class _Numbering:
    """Numbering definitions: python-docx has no API, so write w:abstractNum/w:num.

    Two multi-level abstract definitions (bullets, decimals); every list gets its own
    w:num so that each ordered list restarts at its own start value.
    """

    def __init__(self, document: docx.document.Document) -> None:
        self.root = document.part.numbering_part.element
        ids = [int(n.get(qn("w:abstractNumId"))) for n in self.root.findall(qn("w:abstractNum"))]
        nums = [int(n.get(qn("w:numId"))) for n in self.root.findall(qn("w:num"))]
        self._next_num = max(nums, default=0) + 1
        base = max(ids, default=-1) + 1
        self.bullet = self._abstract(base, ordered=False)
        self.decimal = self._abstract(base + 1, ordered=True)

    def _abstract(self, abstract_id: int, *, ordered: bool) -> int:
        el = OxmlElement("w:abstractNum")
        el.set(qn("w:abstractNumId"), str(abstract_id))
        el.append(_val("w:multiLevelType", "multilevel"))
        for level in range(9):
            lvl = OxmlElement("w:lvl")
            lvl.set(qn("w:ilvl"), str(level))
            lvl.append(_val("w:start", "1"))
            lvl.append(_val("w:numFmt", "decimal" if ordered else "bullet"))
            text = f"%{level + 1}." if ordered else _BULLETS[level % len(_BULLETS)]
            lvl.append(_val("w:lvlText", text))
            lvl.append(_val("w:lvlJc", "left"))
            ppr = OxmlElement("w:pPr")
            ind = OxmlElement("w:ind")
            ind.set(qn("w:left"), str(720 * (level + 1)))
            ind.set(qn("w:hanging"), "360")
            ppr.append(ind)
            lvl.append(ppr)
            el.append(lvl)
        # Schema order: every abstractNum precedes every num.
        first_num = self.root.find(qn("w:num"))
        if first_num is not None:
            first_num.addprevious(el)
        else:
            self.root.append(el)
        return abstract_id

    def new_list(self, ordered: bool, level: int, start: int) -> int:
        num_id = self._next_num
        self._next_num += 1
        num = OxmlElement("w:num")
        num.set(qn("w:numId"), str(num_id))
        num.append(_val("w:abstractNumId", str(self.decimal if ordered else self.bullet)))
        override = OxmlElement("w:lvlOverride")
        override.set(qn("w:ilvl"), str(min(level, 8)))
        override.append(_val("w:startOverride", str(start)))
        num.append(override)
        self.root.append(num)
        return num_id


def _data_uri(src: str) -> bytes | None:
    if not src.startswith("data:") or ";base64," not in src:
        return None
    try:
        return base64.b64decode(src.split(",", 1)[1], validate=False)
    except (binascii.Error, ValueError):
        return None


FORMAT = ExportFormat(
    "docx",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".docx",
    render_docx,
)
