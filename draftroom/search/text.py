"""What the index sees of a document: folded words, CJK characters, emoji, and the
sections (heading path and text) a document is cut into (``entry_from_lines``).

Folding (case, accents) and splitting into words happen here, in Python, once for
both engines, and the engines only ever receive space-separated runs of letters and
digits. That is the reason results agree across stores: PostgreSQL's ``unaccent``
and FTS5's ``remove_diacritics`` disagree on dozens of letters, PostgreSQL's parser
splits "well-known" and e-mail addresses its own way, and neither splits Chinese or
Japanese (a run of ideographs is one "word" to both). ``unaccent`` is also not
IMMUTABLE, so it could not feed a stored tsvector without a wrapper anyway.

    fold("Résumé")          -> "resume"     one character in, one out (offsets hold)
    index_terms("北京 café") -> "北 京 cafe"  each ideograph/kana is its own word
    index_terms("🐉")        -> "x1f409"      an emoji is a word too

Chinese and Japanese are found by single-character words plus adjacency: the query
"北京" becomes the phrase 北 <-> 京 (see ``query.py``), the unigram scheme used by
CJK-aware engines when no dictionary segmenter is available.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import unicodedata
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass

from pycrdt import Doc

from draftroom.document.load import build_doc
from draftroom.document.text import text_lines

# Letters NFKD leaves alone that writers still expect to type without the stroke.
_EXTRA_FOLDS = {"ø": "o", "đ": "d", "ł": "l", "ħ": "h", "ŀ": "l", "ŧ": "t"}

_CJK = (
    "\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f"
    "\U00020000-\U0002ffff"
)
_EMOJI = "\u2600-\u27bf\U0001f000-\U0001faff"
# A word: letters and digits, not "_", not CJK (a negated class, so no per-character
# lookahead: this regex is most of the cost of indexing a document).
_TOKEN = re.compile(rf"(?P<word>[^\W_{_CJK}]+)|(?P<cjk>[{_CJK}])|(?P<emoji>[{_EMOJI}])")
MAX_TOKEN = 100  # longer "words" (base64 blobs, runs of digits) are not indexed
MAX_INDEXED_CHARS = 1_000_000  # PostgreSQL caps a tsvector at 1 MB; keep the engines equal


class _Fold(dict[int, str]):
    """str.translate table: one folded character per character, built on demand."""

    def __missing__(self, code: int) -> str:
        char = chr(code)
        base = next(
            (c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c)),
            char,
        )
        low = base.lower()
        folded = low if len(low) == 1 else (base if len(base) == 1 else char)
        folded = _EXTRA_FOLDS.get(folded, folded)
        self[code] = folded
        return folded


_FOLD = _Fold()


def fold(text: str) -> str:
    """Lower case without accents, the same length as ``text`` (offsets carry over)."""
    return text.lower() if text.isascii() else text.translate(_FOLD)


@dataclass(frozen=True, slots=True)
class Token:
    term: str  # what the index holds
    kind: str  # "word", "cjk" or "emoji"
    surface: str  # the folded text it came from


def tokens(folded: str) -> Iterator[Token]:
    for m in _TOKEN.finditer(folded):
        kind = m.lastgroup or "word"
        surface = m.group()
        if kind == "emoji":
            yield Token(f"x{ord(surface):x}", kind, surface)
        elif kind == "cjk" and not surface.isalnum():
            continue  # punctuation and unassigned code points inside the CJK blocks
        elif len(surface) <= MAX_TOKEN:
            yield Token(surface, kind, surface)


_TERM = re.compile(rf"[^\W_{_CJK}]+|[{_CJK}]")
_EMOJI_CHAR = re.compile(rf"[{_EMOJI}]")


def _emoji_term(m: re.Match[str]) -> str:
    return f" x{ord(m.group()):x} "


def index_terms(text: str) -> str:
    """The text as the engines index it: folded terms joined by single spaces.

    The same terms as ``tokens`` yields, without an object per word: this runs over
    every document on every indexing pass."""
    folded = _EMOJI_CHAR.sub(_emoji_term, fold(text[:MAX_INDEXED_CHARS]))
    return " ".join(
        t for t in _TERM.findall(folded) if len(t) <= MAX_TOKEN and (len(t) > 1 or t.isalnum())
    )


SECTION_CHARS = 4000
"""A section longer than this is cut into chunks of SECTION_CHARS / 2 to SECTION_CHARS
(at a line, else at a space): an edit re-indexes one chunk, and a snippet or a rank
never reads more than this."""


@dataclass(frozen=True, slots=True)
class Section:
    """A heading's text up to the next heading (or a chunk of it): the unit indexed.

    ``key`` hashes everything the index row holds (title, heading path, text), so a
    section whose key the index already has is not indexed again."""

    key: str
    offset: int  # where it starts in the document's flattened text
    path: tuple[str, ...]  # the headings above it, outermost first, its own last
    body: str
    terms: str | None  # folded terms; None when the index already holds ``key``

    def path_json(self) -> str:
        return json.dumps(list(self.path))


@dataclass(frozen=True, slots=True)
class IndexEntry:
    """One document as indexed: its title and its sections, in order.

    Terms are computed when the entry is built, in the indexer's worker thread, and
    only for sections the index does not hold yet: folding and splitting 50 KB takes
    milliseconds the event loop must not spend, and one edit changes one section."""

    title: str
    title_terms: str
    sections: tuple[Section, ...]
    vanished: tuple[str, ...] | None = None  # known keys it no longer has; None: unknown

    def layout_json(self) -> str:
        """Every section's key and offset, in order (kept beside the document)."""
        return json.dumps([[s.key, s.offset] for s in self.sections])

    def keys(self) -> list[str]:
        return list(dict.fromkeys(s.key for s in self.sections))

    def new_sections(self) -> list[Section]:
        """Sections to write (one per key: identical sections are stored once)."""
        seen: set[str] = set()
        out = []
        for s in self.sections:
            if s.terms is not None and s.key not in seen:
                seen.add(s.key)
                out.append(s)
        return out


def layout_from_json(raw: str) -> dict[str, int]:
    """key -> offset of its first section, from ``IndexEntry.layout_json``."""
    layout: dict[str, int] = {}
    for key, offset in json.loads(raw or "[]"):
        layout.setdefault(str(key), int(offset))
    return layout


def _section_key(title: str, path: tuple[str, ...], body: str) -> str:
    raw = "\x00".join((title, *path, "", body)).encode("utf-8", "surrogatepass")
    return hashlib.blake2b(raw, digest_size=12).hexdigest()


def _cut(line: str, limit: int) -> Iterator[str]:
    """A line longer than ``limit`` in pieces at spaces (a piece keeps its space)."""
    while len(line) > limit:
        space = line.rfind(" ", limit // 2, limit)
        end = space + 1 if space != -1 else limit
        yield line[:end]
        line = line[end:]
    yield line


_MARKDOWN_HEADING = re.compile(r"(#{1,6})\s+(\S.*)")


@dataclass(frozen=True, slots=True)
class _Piece:
    """A section as cut from its segment: where it starts in the segment, its text
    and key. Its path is the segment's."""

    at: int
    body: str
    key: str


@dataclass(frozen=True, slots=True)
class _Segment:
    """A heading and the lines up to the next one (or the lines before the first):
    what one heading contributes, cut into sections. Nothing in it depends on the
    text around it but the path above it and the title, so a segment whose lines,
    path and title are unchanged is reused as it is, at its new offset."""

    pieces: tuple[_Piece, ...]
    length: int  # characters it spans, its newlines included


def _heading(raw: str, level: int) -> tuple[str, int, int] | None:
    """(NFC text, level, where the text starts) if the line is a heading."""
    if level:
        return unicodedata.normalize("NFC", raw), level, 0
    if raw[:1] != "#":  # NFC never makes a "#" at the start of a line that had none
        return None
    line = unicodedata.normalize("NFC", raw)
    m = _MARKDOWN_HEADING.fullmatch(line)
    return (m.group(2), len(m.group(1)), m.start(2)) if m else None


def _cut_segment(
    title: str, path: tuple[str, ...], head: tuple[str, int, int] | None, raws: tuple[str, ...]
) -> _Segment:
    """The sections of one segment: chunks of at most SECTION_CHARS (a long line
    in pieces at spaces), offsets counted from the segment's start."""
    pieces: list[_Piece] = []
    chunk: list[str] = []
    chunk_at = pos = size = 0  # size: of the chunk, newlines included

    def close() -> None:
        nonlocal chunk, chunk_at
        body = "\n".join(chunk)
        pieces.append(_Piece(chunk_at, body, _section_key(title, path, body)))
        chunk, chunk_at = [], pos

    for n_line, raw in enumerate(raws):
        if n_line == 0 and head is not None:
            # The text, not the marks; offsets still count them, so that a section's
            # offset plus a position in its text is a position in the document's text.
            line, _, starts = head
            pos += starts
        else:
            line = unicodedata.normalize("NFC", raw)
        for n, piece in enumerate(_cut(line, SECTION_CHARS)):
            # The pieces of one line go to chunks of their own: a chunk's lines are
            # joined by newlines, and there is none between two pieces.
            if chunk and (n or size + len(piece) > SECTION_CHARS):
                close()
                size = 0
            if not chunk:
                chunk_at = pos
            chunk.append(piece)
            size += len(piece) + 1
            pos += len(piece)
        pos += 1  # the newline
    if chunk:
        close()
    return _Segment(tuple(pieces), pos)


class SectionCutter:
    """Cuts a document's lines into sections, remembering the segments (a heading
    and its lines) of the last text it cut, so that cutting the same document again
    after an edit redoes only the segments the edit touched.

    The indexer keeps one beside each Doc it keeps: a keystroke changes one segment,
    and before this every pass normalized, split and hashed every line of every busy
    document (0.6 ms for 14 KB, a 2 KB document 0.24 ms: most of a pass's thread time).
    The result is exactly ``entry_from_lines``'s, which is this with nothing
    remembered (tests/search/test_incremental_sections.py checks it on random edits).
    """

    def __init__(self) -> None:
        self._title: str | None = None
        self._segments: dict[tuple[object, ...], _Segment] = {}

    def entry(
        self, title: str, lines: Iterable[tuple[str, int]], known: Collection[str] = ()
    ) -> IndexEntry:
        """Build from (line, heading level) pairs. A plain-text line "## Chapter 7"
        counts as a level-2 heading: plain documents have no other way to say it.

        A section starts at each heading (the heading line is its first line) and
        holds the lines up to the next one; the text before the first heading is a
        section with no path. Sections whose key is in ``known`` get no terms (not
        re-indexed)."""
        title = unicodedata.normalize("NFC", title)
        if title != self._title:  # every key hashes the title
            self._segments = {}
            self._title = title
        before, self._segments = self._segments, {}
        sections: list[Section] = []
        stack: list[tuple[int, str]] = []
        path: tuple[str, ...] = ()
        at = 0  # where the segment being gathered starts in the document's text

        def add(head: tuple[str, int, int] | None, raws: list[str]) -> None:
            nonlocal at
            memo = (path, *(head[1:] if head else (0, 0)), *raws)
            segment = before.get(memo) or self._segments.get(memo)
            if segment is None:
                segment = _cut_segment(title, path, head, tuple(raws))
            self._segments[memo] = segment
            for p in segment.pieces:
                terms = None
                if p.key not in known:
                    terms = index_terms(p.body)
                    # In a thread this holds the GIL against the event loop (acks,
                    # fan-out): hand it back between sections rather than at the 5 ms
                    # switch interval.
                    time.sleep(0)
                sections.append(Section(p.key, at + p.at, path, p.body, terms))
            at += segment.length

        head: tuple[str, int, int] | None = None
        raws: list[str] = []
        for raw, level in lines:
            # Most lines are body text: no call for them.
            found = _heading(raw, level) if level or raw[:1] == "#" else None
            if found is not None:
                if raws:
                    add(head, raws)
                head, raws = found, [raw]
                text, level_of = found[0], found[1]
                while stack and stack[-1][0] >= level_of:
                    stack.pop()
                stack.append((level_of, text.strip()))
                path = tuple(t for _, t in stack)
            else:
                raws.append(raw)
        if raws:
            add(head, raws)
        if not sections:  # an empty document is one empty section
            key = _section_key(title, (), "")
            sections.append(Section(key, 0, (), "", None if key in known else ""))
        vanished = None
        if known:
            keys = {s.key for s in sections}
            vanished = tuple(k for k in known if k not in keys)
        return IndexEntry(title, index_terms(title), tuple(sections), vanished)


def entry_from_lines(
    title: str, lines: Iterable[tuple[str, int]], known: Collection[str] = ()
) -> IndexEntry:
    """``SectionCutter.entry`` with nothing remembered."""
    return SectionCutter().entry(title, lines, known)


def entry_from_doc(
    title: str, doc: Doc, known: Collection[str] = (), cutter: SectionCutter | None = None
) -> IndexEntry:
    """The document's entry; through ``cutter`` (the one kept with this Doc) only the
    segments changed since its last entry are cut again."""
    return (cutter or SectionCutter()).entry(title, text_lines(doc), known)


def entry_from_state(
    title: str, snapshot: bytes | None, updates: list[bytes], known: Collection[str] = ()
) -> IndexEntry:
    """Build the document and read it; meant for a worker thread (the Doc never
    leaves it), so indexing a large document does not stall the event loop."""
    return entry_from_doc(title, build_doc(snapshot, updates), known)
