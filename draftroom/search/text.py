"""What the index sees of a document: folded words, CJK characters, emoji, headings.

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

import json
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from pycrdt import Doc

from draftroom.document.load import build_doc
from draftroom.document.text import read_text

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


@dataclass(frozen=True, slots=True)
class Heading:
    offset: int  # where the heading line starts in the body
    level: int
    text: str


@dataclass(frozen=True, slots=True)
class IndexEntry:
    """One document as indexed: the text shown in snippets and the terms searched.

    The terms are computed when the entry is built, in the indexer's worker thread:
    folding and splitting 50 KB takes milliseconds the event loop must not spend."""

    title: str
    body: str
    headings: tuple[Heading, ...]
    title_terms: str
    body_terms: str

    def headings_json(self) -> str:
        return json.dumps([[h.offset, h.level, h.text] for h in self.headings])


def headings_from_json(raw: str) -> tuple[Heading, ...]:
    return tuple(Heading(int(o), int(lv), str(t)) for o, lv, t in json.loads(raw or "[]"))


_MARKDOWN_HEADING = re.compile(r"(#{1,6})\s+(\S.*)")


def entry_from_lines(title: str, lines: Iterable[tuple[str, int]]) -> IndexEntry:
    """Build from (line, heading level) pairs. A plain-text line "## Chapter 7" counts
    as a level-2 heading: plain documents have no other way to say it."""
    parts: list[str] = []
    headings: list[Heading] = []
    pos = 0
    for raw, level in lines:
        line = unicodedata.normalize("NFC", raw)
        if level == 0 and (m := _MARKDOWN_HEADING.fullmatch(line)):
            level, line = len(m.group(1)), m.group(2).strip()  # the text, not the marks
        if level:
            headings.append(Heading(pos, level, line))
        parts.append(line)
        pos += len(line) + 1
    title = unicodedata.normalize("NFC", title)
    body = "\n".join(parts)
    return IndexEntry(title, body, tuple(headings), index_terms(title), index_terms(body))


def entry_from_doc(title: str, doc: Doc) -> IndexEntry:
    flat = read_text(doc)
    return entry_from_lines(
        title, ((flat.line_text(line), line.heading_level) for line in flat.lines)
    )


def entry_from_state(title: str, snapshot: bytes | None, updates: list[bytes]) -> IndexEntry:
    """Build the document and read it; meant for a worker thread (the Doc never
    leaves it), so indexing a large document does not stall the event loop."""
    return entry_from_doc(title, build_doc(snapshot, updates))
