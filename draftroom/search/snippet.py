"""Snippets, cut in Python from the best section of each hit on one page.

The engines decide which documents match and in what order; what a hit looks like is
decided here, once, so both stores show the same thing. A snippet is plain text in
parts, ``[{"text": "the red ", "match": false}, {"text": "Dragon", "match": true}]``:
no markup to escape or forget to escape, and no character offsets that would mean
different things in Python (code points) and JavaScript (UTF-16 units).

Matching here is accent- and case-insensitive on the original text, through character
classes built from ``text.fold`` (``e`` also matches ``é``, ``è``, ``É``...), so the
highlighted span is the writer's own spelling.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from draftroom.search.query import Clause, Query
from draftroom.search.text import Token, fold

SNIPPET_BEFORE = 60
SNIPPET_CHARS = 200
PATH_SEPARATOR = " \u203a "  # single right-pointing angle quotation mark
_WORDCHAR = r"[^\W_]"


@lru_cache(maxsize=1)
def _variants() -> dict[str, str]:
    """Folded letter -> every Latin letter that folds to it."""
    found: dict[str, set[str]] = {}
    for code in [*range(0xC0, 0x250), *range(0x1E00, 0x1F00)]:
        char = chr(code)
        found.setdefault(fold(char), set()).add(char)
    return {k: "".join(sorted(v)) for k, v in found.items() if len(k) == 1}


def _term_pattern(token: Token) -> str:
    if token.kind != "word":
        return re.escape(token.surface)
    variants = _variants()
    return "".join(
        f"[{re.escape(ch + variants[ch])}]" if ch in variants else re.escape(ch)
        for ch in token.term
    )


def _clause_pattern(clause: Clause) -> str:
    pattern = r"[\W_]*".join(_term_pattern(t) for t in clause.terms)
    if clause.terms[0].kind == "word":
        pattern = rf"(?<!{_WORDCHAR})" + pattern
    if clause.prefix:
        pattern += rf"{_WORDCHAR}*"
    elif clause.terms[-1].kind == "word":
        pattern += rf"(?!{_WORDCHAR})"
    return pattern


def matcher(query: Query) -> re.Pattern[str]:
    """Finds what the query's positive clauses would highlight, longest first."""
    patterns = sorted((_clause_pattern(c) for c in query.positive), key=len, reverse=True)
    return re.compile("|".join(patterns), re.IGNORECASE)


def parts(text: str, spans: list[tuple[int, int]]) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    pos = 0
    for start, end in spans:
        if start > pos:
            out.append({"text": text[pos:start], "match": False})
        out.append({"text": text[start:end], "match": True})
        pos = end
    if pos < len(text):
        out.append({"text": text[pos:], "match": False})
    return out


@dataclass(frozen=True, slots=True)
class Snippet:
    parts: list[dict[str, object]]
    offset: int | None  # where the first match starts in the text given


def snippet(body: str, found: re.Pattern[str]) -> Snippet:
    """Cut from one section's text (a few KB at most, whatever the document's size)."""
    first = found.search(body)
    if first is None:  # a title-only hit: show the opening
        start, offset = 0, None
    else:
        offset = first.start()
        start = max(0, offset - SNIPPET_BEFORE)
        if start > 0:  # begin at a word
            space = body.find(" ", start, offset)
            start = space + 1 if space != -1 else start
    end = min(len(body), start + SNIPPET_CHARS)
    if end < len(body):
        space = body.rfind(" ", start + SNIPPET_CHARS // 2, end)
        end = space if space != -1 else end
    window = body[start:end].replace("\n", " ")
    spans = [(m.start(), m.end()) for m in found.finditer(window) if m.end() > m.start()]
    shown = parts(window, spans)
    if start > 0:
        shown.insert(0, {"text": "…", "match": False})
    if end < len(body):
        shown.append({"text": "…", "match": False})
    return Snippet(shown, offset)


def title_parts(title: str, found: re.Pattern[str]) -> list[dict[str, object]]:
    return parts(
        title, [(m.start(), m.end()) for m in found.finditer(title) if m.end() > m.start()]
    )
