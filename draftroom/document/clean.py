"""What text may reach the document tree: one cleaning policy for every reader of it.

Collaborators paste from anywhere, so a document can hold characters no file format
will carry. DOCX, HTML, the Scrivener binder and the PDF's metadata are XML (or close
to it), and XML 1.0 forbids most C0 control characters (a vertical tab from a Word
paste, a form feed, ESC, BEL), lone surrogates and U+FFFE/U+FFFF; one of them in a
run made the DOCX export fail and the ``.scrivx`` malformed. Cleaning here, once, as
the tree is read, means no writer has to remember it.

Names (titles, which become file names, binder titles, running heads and PDF
bookmarks) are cleaned further. Bidi overrides and isolates (U+202A-202E,
U+2066-2069) make a name display in an order other than the one it sorts and opens
in (``evil\u202egpj.exe`` shows as ``evilexe.jpg``), and zero-width characters make
two names look identical. Body text keeps them: there they are the writer's
typography (an RTL quotation inside English, a ZWJ emoji sequence). In names a
zero-width joiner or non-joiner survives only between two non-ASCII visible
characters, where emoji sequences and Persian or Indic spelling need it.
"""

from __future__ import annotations

import re

# XML 1.0 Char, minus C1 controls (legal but "discouraged", and invisible junk when
# they appear: a mis-decoded Windows-1252 paste). Tab and newline stay.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff\ufffe\uffff]")
_BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")
_ZERO_WIDTH = re.compile("[\u200b\u2060-\u2064\ufeff\u180e]")
_JOINER = re.compile("[\u200c\u200d]")
_SPACES = re.compile(r"\s+")


def clean_text(text: str) -> str:
    """``text`` without the characters XML cannot hold; CR and CRLF become LF."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _XML_ILLEGAL.sub("", text)


def clean_name(name: str) -> str:
    """A title fit to name a file or a binder item: one line, clean text, no bidi
    overrides or isolates, no zero-width characters; stripped (may return "")."""
    name = _BIDI_CONTROLS.sub("", clean_text(name))
    name = _ZERO_WIDTH.sub("", name)
    if "\u200c" in name or "\u200d" in name:
        name = _JOINER.sub(_keep_joiner, name)
    return _SPACES.sub(" ", name).strip()


def _keep_joiner(match: re.Match[str]) -> str:
    text, at = match.string, match.start()
    before = text[at - 1] if at > 0 else " "
    after = text[at + 1] if at + 1 < len(text) else " "
    visible = all(ord(c) > 0x7F and not c.isspace() for c in (before, after))
    return match.group() if visible and not _JOINER.match(after) else ""
