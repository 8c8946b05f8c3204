"""Collecting runs of text with their marks, shared by every parser.

Parsers walk their format's inline structure with a stack of open marks; this
turns what they find into canonical runs (merged, no empty ones, the code mark
alone but for a link) with text cleaned of what no editor or export can hold.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from draftroom.document.tree import CODE, LINK, HardBreak, Inline, Mark, Text, merge_runs

# XML 1.0 cannot hold these (nor can DOCX or TipTap's HTML): C0 controls but tab,
# newline and carriage return, lone surrogates, and the two non-characters.
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


def clean(text: str) -> str:
    """Text as an editor holds it: no illegal characters, newlines as ``\\n``."""
    return _ILLEGAL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def canonical_marks(marks: Iterable[Mark]) -> frozenset[Mark]:
    found = frozenset(marks)
    if any(m.kind == CODE for m in found):
        # ProseMirror's code mark excludes every other mark but a link.
        return frozenset(m for m in found if m.kind in (CODE, LINK))
    return found


class Runs:
    """An inline sequence being built: ``add`` text under marks, ``br`` a line break."""

    def __init__(self) -> None:
        self.items: list[Inline] = []

    def add(self, text: str, marks: Iterable[Mark] = ()) -> None:
        text = clean(text)
        if not text:
            return
        kept = canonical_marks(marks)
        for i, part in enumerate(text.split("\n")):
            if i:
                self.items.append(HardBreak())
            if part:
                self.items.append(Text(part, kept))

    def br(self) -> None:
        self.items.append(HardBreak())

    def take(self) -> list[Inline]:
        """The runs so far, canonical; the builder starts over empty."""
        out = merge_runs(self.items)
        self.items = []
        return out

    def __bool__(self) -> bool:
        return any(isinstance(i, HardBreak) or i.text for i in self.items)


_HEX = re.compile(r"#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})")
_RGB = re.compile(r"rgba?\(\s*(\d{1,3})\s*,\s*(\d{1,3})\s*,\s*(\d{1,3})\s*(?:,[^)]*)?\)")


def css_color(value: str | None) -> str | None:
    """A CSS colour as ``#rrggbb``; a bare name is passed on for the reader to resolve
    (it knows the names editors use); anything else is no colour."""
    raw = (value or "").strip().lower()
    if match := _HEX.fullmatch(raw):
        digits = match.group(1)
        return "#" + ("".join(c * 2 for c in digits) if len(digits) == 3 else digits)
    if match := _RGB.fullmatch(raw):
        return "#" + "".join(f"{min(int(c), 255):02x}" for c in match.groups())
    if raw.startswith("#"):  # a "#zzz" typo
        return None
    return raw if raw.isalpha() else None
