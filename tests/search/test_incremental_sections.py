"""A kept ``SectionCutter`` cuts an edited document exactly as cutting it from scratch
does: same sections, offsets, paths, keys, terms and vanished keys, after any edits
(plain and rich text; blocks inserted, deleted, split and merged; headings added,
removed, renamed and re-levelled; the title changed). And a document deleted and made
again under the same id does not reuse the old one's Doc or segments."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from pycrdt import Doc, Text, XmlElement, XmlFragment, XmlText

from draftroom.document.text import read_text, text_lines
from draftroom.search.service import Flattener
from draftroom.search.text import IndexEntry, SectionCutter, entry_from_doc, entry_from_lines

SNIPPETS = [
    "a",
    " ",
    "\n",
    "word ",
    "Résumé ",
    "北京",
    "🐉",
    "# Part I\n",
    "\n## Chapter 7\n",
    "\n### Scene",
    "#",
    "## ",
    "long " * 900,  # past SECTION_CHARS: cut into chunks
]


def _as_read(doc: Doc) -> list[tuple[str, int]]:
    flat = read_text(doc)
    return [(flat.line_text(line), line.heading_level) for line in flat.lines]


def _check(cutter: SectionCutter, title: str, doc: Doc, known: frozenset[str]) -> IndexEntry:
    lines = list(text_lines(doc))
    assert lines == _as_read(doc)  # the cheap reading is read_text's lines
    kept = cutter.entry(title, lines, known)
    assert kept == entry_from_lines(title, lines, known)
    assert kept == entry_from_doc(title, doc, known)
    return kept


plain_edit = st.tuples(
    st.sampled_from(["insert", "insert", "delete"]),
    st.floats(0, 1),
    st.sampled_from(SNIPPETS),
    st.integers(1, 40),
)


@given(
    start=st.lists(st.sampled_from(SNIPPETS), max_size=8),
    edits=st.lists(st.one_of(plain_edit, st.just(("title", 0.0, "", 0))), max_size=25),
)
def test_plain_text_edits_cut_as_from_scratch(
    start: list[str], edits: list[tuple[str, float, str, int]]
) -> None:
    doc: Doc = Doc()
    text = doc.get("text", type=Text)
    text.insert(0, "".join(start))
    cutter, title = SectionCutter(), "Notes"
    known = frozenset(s.key for s in _check(cutter, title, doc, frozenset()).sections)
    for kind, where, snippet, count in edits:
        now = str(text)
        at = int(where * len(now))

        def offset(chars: int, now: str = now) -> int:  # pycrdt counts UTF-8 bytes
            return len(now[:chars].encode())

        if kind == "insert":
            text.insert(offset(at), snippet)
        elif kind == "delete" and now:
            at = min(at, len(now) - 1)
            del text[offset(at) : offset(at + count)]
        else:
            title = "Notes, renamed" if title == "Notes" else "Notes"
        # As the indexer does: the index now holds what the last entry had.
        known = frozenset(s.key for s in _check(cutter, title, doc, known).sections)


def _block(kind: str, words: str, level: int) -> XmlElement:
    if kind == "heading":
        # A number, as TipTap stores it (pycrdt's stubs say str).
        return XmlElement("heading", {"level": level}, [XmlText(words)])  # type: ignore[arg-type]
    return XmlElement("paragraph", {}, [XmlText(words)])


def _words(el: Any) -> str:
    return "".join(str(child) for child in el.children)


rich_edit = st.tuples(
    st.sampled_from(["add", "add", "drop", "type", "split", "merge", "relevel"]),
    st.floats(0, 1),
    st.sampled_from(["heading", "paragraph", "paragraph"]),
    st.sampled_from(["Chapter", "The dragon slept.", "Ça va", "", "x\ny", "long " * 900]),
    st.integers(1, 3),
)


@given(edits=st.lists(rich_edit, max_size=20))
def test_rich_text_block_edits_cut_as_from_scratch(
    edits: list[tuple[str, float, str, str, int]],
) -> None:
    doc: Doc = Doc()
    fragment = doc.get("default", type=XmlFragment)
    fragment.children.append(_block("heading", "Part I", 1))
    fragment.children.append(_block("paragraph", "Once upon a time.", 0))
    cutter = SectionCutter()
    known = frozenset(s.key for s in _check(cutter, "Book", doc, frozenset()).sections)
    for kind, where, block, words, level in edits:
        n = len(fragment.children)
        at = min(int(where * n), max(n - 1, 0))
        with doc.transaction():
            if kind == "add" or n == 0:
                fragment.children.insert(int(where * n), _block(block, words, level))
            elif kind == "drop":
                del fragment.children[at]
            elif kind == "type":
                el = fragment.children[at]
                assert isinstance(el, XmlElement)
                typed = _words(el)
                at_char = int(where * len(typed))  # pycrdt counts UTF-8 bytes
                inline = el.children[0]
                assert isinstance(inline, XmlText)
                inline.insert(len(typed[:at_char].encode()), words)
            elif kind == "split":
                el = fragment.children[at]
                assert isinstance(el, XmlElement)
                whole = _words(el)
                cut = int(where * len(whole))
                del fragment.children[at]
                fragment.children.insert(at, _block("paragraph", whole[cut:], 0))
                fragment.children.insert(at, _block(block, whole[:cut], level))
            elif kind == "merge" and at + 1 < n:
                first, second = fragment.children[at], fragment.children[at + 1]
                joined = _words(first) + _words(second)
                del fragment.children[at : at + 2]
                fragment.children.insert(at, _block(block, joined, level))
            elif kind == "relevel":
                el = fragment.children[at]
                assert isinstance(el, XmlElement)
                if el.tag == "heading":
                    el.attributes["level"] = level
        known = frozenset(s.key for s in _check(cutter, "Book", doc, known).sections)


def _state(body: str) -> bytes:
    doc: Doc = Doc()
    doc.get("text", type=Text).insert(0, body)
    return doc.get_update()


def test_a_document_made_again_under_its_id_is_built_afresh() -> None:
    flattener = Flattener(0)
    old, new = "doc@2026-11-29T10:00:00", "doc@2026-11-29T11:00:00"
    first = flattener._build(old, "T", None, [_state("# One\nold words")], 1, frozenset())
    assert flattener.version(old) == 1 and flattener.version(new) is None
    again = flattener._build(new, "T", None, [_state("# One\nnew words")], 1, frozenset())
    assert [s.body for s in first.sections] == ["One\nold words"]
    assert again == entry_from_lines("T", [("# One", 0), ("new words", 0)])
    assert flattener.builds == 2 and flattener.advances == 0
