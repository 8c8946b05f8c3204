"""DOCX writer (python-docx): real Word styles, numbering, hyperlinks, page setup."""

from __future__ import annotations

import base64
import binascii
import io

import docx
from docx.enum.style import WD_STYLE_TYPE
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_LINE_SPACING
from docx.opc.constants import RELATIONSHIP_TYPE
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Inches, Mm, Pt, RGBColor
from docx.text.paragraph import Paragraph as DocxParagraph

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
    Text,
)
from draftroom.export.formats import ExportFormat
from draftroom.export.options import ExportOptions
from draftroom.export.safety import safe_link

MONO_FONT = "Liberation Mono"
SERIF_FONT = "Times New Roman"  # LibreOffice substitutes Liberation Serif (same metrics)
_BULLETS = ("\u2022", "\u25e6", "\u25aa")


def render_docx(docs: list[Document], options: ExportOptions) -> bytes:
    writer = _Writer(options)
    for n, doc in enumerate(docs):
        writer.document(doc, first=n == 0)
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

    def document(self, doc: Document, *, first: bool) -> None:
        title = self.doc.add_paragraph(doc.title, style="Title")
        # Each document of a compiled manuscript starts on a new page.
        title.paragraph_format.page_break_before = not first
        title.paragraph_format.keep_with_next = True
        self.blocks(doc.blocks, quote=0)

    def blocks(self, blocks: list[Block], *, quote: int, list_level: int = -1) -> None:
        for block in blocks:
            self.block(block, quote=quote, list_level=list_level)

    def block(self, block: Block, *, quote: int, list_level: int) -> None:
        if isinstance(block, Paragraph):
            style = "Quote" if quote else None
            if list_level >= 0:
                style = (
                    "List Continue"
                    if list_level == 0
                    else f"List Continue {min(list_level + 1, 3)}"
                )
            para = self.doc.add_paragraph(style=style)
            self._indent_quote(para, quote)
            self.inlines(para, block.children)
        elif isinstance(block, Heading):
            para = self.doc.add_paragraph(style=f"Heading {block.level}")
            self.inlines(para, block.children)
        elif isinstance(block, Blockquote):
            self.blocks(block.children, quote=quote + 1, list_level=list_level)
        elif isinstance(block, BulletList | OrderedList):
            self.list_block(block, quote=quote, level=list_level + 1)
        elif isinstance(block, CodeBlock):
            para = self.doc.add_paragraph(style="Source Code")
            run = para.add_run()
            for n, line in enumerate(block.text.split("\n")):
                if n:
                    run.add_break()
                run.add_text(line)
        elif isinstance(block, HorizontalRule):
            self.doc.add_paragraph("#" if self.options.manuscript else "* * *", style="Scene Break")
        elif isinstance(block, Image):
            self.image(block)

    def list_block(self, block: BulletList | OrderedList, *, quote: int, level: int) -> None:
        ordered = isinstance(block, OrderedList)
        start = block.start if isinstance(block, OrderedList) else 1
        num_id = self.numbering.new_list(ordered, level, start)
        level = min(level, 8)
        base = "List Number" if ordered else "List Bullet"
        style = base if level == 0 else f"{base} {min(level + 1, 3)}"
        for item in block.items:
            children = list(item.children)
            first = children[0] if children else None
            if isinstance(first, Paragraph | Heading):
                para = self.doc.add_paragraph(style=style)
                _set_numbering(para, num_id, level)
                self.inlines(para, first.children)
                children = children[1:]
            else:  # an item that starts with a nested list or is empty
                para = self.doc.add_paragraph(style=style)
                _set_numbering(para, num_id, level)
            self.blocks(children, quote=quote, list_level=level)

    def image(self, image: Image) -> None:
        data = _data_uri(image.src)
        if data is not None:
            try:
                self.doc.add_picture(io.BytesIO(data), width=Mm(100))
                if image.alt:
                    self.doc.add_paragraph(image.alt, style="Caption")
                return
            except Exception:  # not an image python-docx understands: fall through
                pass
        # Remote images are never fetched by the exporter; keep a visible placeholder.
        para = self.doc.add_paragraph(style="Caption")
        para.add_run(f"[Image: {image.alt or image.title or image.src}]")

    def inlines(self, para: DocxParagraph, inlines: list[Inline]) -> None:
        p = para._p
        last = None
        for node in inlines:
            if isinstance(node, HardBreak):
                r = OxmlElement("w:r")
                r.append(_break())
                p.append(r)
                last = None
                continue
            r = _run(node)
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

    def save(self, out: io.BytesIO, docs: list[Document]) -> None:
        props = self.doc.core_properties
        props.title = self.options.project_title or (docs[0].title if docs else "")
        props.author = self.options.author
        props.last_modified_by = self.options.author
        now = self.options.now.replace(microsecond=0)
        props.created = props.modified = now
        props.revision = 1
        self.doc.save(out)


def _run(node: Text):  # type: ignore[no-untyped-def]
    # Built with oxml directly: python-docx's Run API costs ~4x more per run and
    # a novel has tens of thousands of runs.
    r = OxmlElement("w:r")
    marks = {m.kind for m in node.marks}
    if marks:
        rpr = OxmlElement("w:rPr")
        if node.link():
            rpr.append(_val("w:rStyle", "Hyperlink"))
        elif CODE in marks:
            rpr.append(_val("w:rStyle", "Verbatim Char"))
        if BOLD in marks:
            rpr.append(OxmlElement("w:b"))
        if ITALIC in marks:
            rpr.append(OxmlElement("w:i"))
        if STRIKE in marks:
            rpr.append(OxmlElement("w:strike"))
        if UNDERLINE in marks:
            rpr.append(_val("w:u", "single"))
        if len(rpr):
            r.append(rpr)
    t = OxmlElement("w:t")
    t.text = node.text
    t.set("{http://www.w3.org/XML/1998/namespace}space", "preserve")
    r.append(t)
    return r


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
