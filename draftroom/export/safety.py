"""What an exported file may point at and be named: one policy for every writer.

A document's links, image sources, code-block languages and titles are typed by any
collaborator, and an export is opened later by someone else, in a browser, Word or a
Markdown viewer that may turn them into live HTML, script URLs or file-share lookups
(a UNC link makes Windows send the reader's credentials to that host). So every writer
asks this module, and none keeps its own list:

- links: http, https (any case), mailto, and relative references (paths, ``#anchor``,
  ``?query``) survive; anything else (``javascript:``, ``file:``, ``data:``, UNC
  ``\\\\host\\share``, ``//host`` paths, URLs hiding control characters) is dropped and
  the writer keeps the link's text as plain text.
- images: only ``data:image/…`` is embedded; an export never fetches a remote or
  local resource, and the HTML it writes never makes its reader's browser fetch one.
- file names: no path separator or dot-dot can appear under any Unicode
  normalisation (fullwidth U+FF0E U+FF0E U+FF0F becomes ``../`` under NFKC or NFKD);
  no bidi override or zero-width character (``clean_name``); and a limit in UTF-8
  bytes, which is what file systems and ZIP readers count (255 bytes per name on
  ext4, APFS and NTFS): 95 Japanese characters are 285 bytes.
"""

from __future__ import annotations

import re
import unicodedata

from draftroom.document.clean import clean_name

LINK_SCHEMES = frozenset({"http", "https", "mailto"})
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
# Browsers drop tabs and newlines inside URLs ("java\tscript:" is javascript:), and
# Markdown ends a destination at a line break; refuse any control character.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_IMAGE_DATA = re.compile(r"^data:image/(png|jpeg|gif|webp);base64,[A-Za-z0-9+/=\s]*$", re.I)
_LANGUAGE = re.compile(r"[^A-Za-z0-9_+.#-]")
MAX_LANGUAGE = 40


def safe_link(url: str | None) -> str | None:
    """``url`` if an export may link to it, else None (keep the text, drop the link)."""
    if not url or _CONTROL.search(url):
        return None
    url = url.strip(" ")
    if not url or "\\" in url or url.startswith("//"):
        return None  # UNC paths, and host-relative links Word resolves as file shares
    match = _SCHEME.match(url)
    if match:
        return url if match.group(1).lower() in LINK_SCHEMES else None
    # No scheme: a relative reference, unless a colon before the first / ? # makes some
    # reader take it for one (": " is not a valid scheme to us, but may be to them).
    head = re.split(r"[/?#]", url, maxsplit=1)[0]
    return None if ":" in head else url


def safe_image(src: str | None) -> str | None:
    """``src`` if an export may embed it: base64 ``data:`` images of common types only."""
    if not src or not _IMAGE_DATA.match(src):
        return None
    return src


def safe_language(language: str | None) -> str:
    """A code block's language as a bare word ("" when nothing usable is left)."""
    if not language:
        return ""
    word = language.strip().split(maxsplit=1)[0] if language.strip() else ""
    return _LANGUAGE.sub("", word)[:MAX_LANGUAGE]


def plain_line(text: str) -> str:
    """``text`` on one line: line breaks and other control characters become spaces."""
    return re.sub(r"\s+", " ", _CONTROL.sub(" ", text)).strip()


_UNSAFE_NAME = re.compile(r'[\\/:*?"<>|\x00-\x1f\x7f-\x9f]+')
# Room for " (99)" and the longest extension (".scriv.zip", ".scrivx") within 255.
MAX_NAME_BYTES = 200


def safe_name(name: str, max_bytes: int = MAX_NAME_BYTES) -> str:
    """A file name with no separators, no dot-dot and no control characters, under any
    normalisation: compatibility characters are folded (NFKC) before checking, so
    nothing can turn into ``/`` or ``..`` later. At most ``max_bytes`` in UTF-8, cut
    at a character boundary. May return ""."""
    text = clean_name(name)
    for _ in range(3):  # NFKC is idempotent; the replacements below cannot undo that
        folded = unicodedata.normalize("NFKC", text)
        folded = _UNSAFE_NAME.sub(" ", folded)
        folded = re.sub(r"\.{2,}", ".", folded)
        folded = re.sub(r"\s+", " ", folded).strip(" .")
        if folded == text:
            break
        text = folded
    return _cut_bytes(text, max_bytes)


def _cut_bytes(text: str, max_bytes: int) -> str:
    data = text.encode("utf-8")
    if len(data) <= max_bytes:
        return text
    cut = data[:max_bytes].decode("utf-8", errors="ignore")
    # A mark, joiner or variation selector left at the end belongs to a character cut off.
    while cut and unicodedata.category(cut[-1]) in ("Mn", "Me", "Cf"):
        cut = cut[:-1]
    return cut.rstrip(" .")
