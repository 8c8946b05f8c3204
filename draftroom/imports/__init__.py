"""Bringing writers' files in: DOCX, Markdown, HTML and plain text, as a document tree.

Each format has its own parser module producing the one document tree
(``draftroom.document.tree``); ``document/build.py`` writes the tree into Yjs the
way TipTap does, and ``apply.py`` makes that a normal edit through the room. This
module picks the format and runs the parser under the limits:

- the format comes from ``?format=``, else the Content-Type, else the file's name,
  else its first bytes (a ZIP is a .docx; an OLE file is refused as encrypted or
  legacy .doc); a format that cannot be told is refused (415);
- text formats must be UTF-8 (a BOM, UTF-16 with a BOM, is accepted); other
  encodings are refused (422) rather than guessed into mojibake;
- size limits come from the settings (``import_max_bytes`` for the file,
  ``import_max_unpacked_bytes`` for what a .docx unpacks to). Embedded images past
  ``MAX_IMAGE_BYTES`` each are left out.

Parsing is CPU-bound and takes up to a second or two on a novel: callers on the
event loop run ``parse_file`` in a thread (``apply.parse_off_loop``).
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

from draftroom.document.tree import Document
from draftroom.imports.errors import Malformed, TooBig, Unsupported

FORMATS = ("docx", "md", "html", "txt")
CONTENT_TYPES = {
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "text/markdown": "md",
    "text/x-markdown": "md",
    "text/html": "html",
    "application/xhtml+xml": "html",
    "text/plain": "txt",
}
EXTENSIONS = {
    ".docx": "docx",
    ".md": "md",
    ".markdown": "md",
    ".mdown": "md",
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
    ".txt": "txt",
    ".text": "txt",
}
# Types that say nothing about the content: the name or the bytes decide.
_GENERIC = {"application/octet-stream", "application/zip", "application/x-www-form-urlencoded"}
_LEGACY = {
    ".doc": "legacy .doc",
    ".docm": "macro-enabled .docm",
    ".rtf": "RTF",
    ".odt": "OpenDocument",
    ".pages": "Pages",
}
MAX_IMAGE_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ImportLimits:
    max_bytes: int = 32 * 1024 * 1024
    max_unpacked_bytes: int = 128 * 1024 * 1024
    max_image_bytes: int = MAX_IMAGE_BYTES


def detect_format(
    fmt: str | None,
    content_type: str | None = None,
    filename: str | None = None,
    head: bytes = b"",
) -> str:
    """The format to parse as; raises Unsupported (415) when it cannot be told."""
    if fmt:
        fmt = fmt.strip().lower()
        fmt = {"markdown": "md", "text": "txt", "htm": "html"}.get(fmt, fmt)
        if fmt not in FORMATS:
            raise Unsupported(
                f"unknown import format {fmt[:32]!r}; use one of {', '.join(FORMATS)}"
            )
        return fmt
    media = (content_type or "").split(";")[0].strip().lower()
    if media in CONTENT_TYPES:
        return CONTENT_TYPES[media]
    if media and media not in _GENERIC:
        raise Unsupported(
            f"cannot import {media[:80]}; send DOCX, Markdown, HTML or plain text "
            "(or say which with ?format=)"
        )
    if filename:
        name = filename.lower()
        suffix = name[name.rfind(".") :] if "." in name else ""
        if suffix in EXTENSIONS:
            return EXTENSIONS[suffix]
        if suffix in _LEGACY:
            raise Unsupported(f"{_LEGACY[suffix]} files are not imported; save as .docx")
    if head.startswith(b"PK\x03\x04"):
        return "docx"
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        return "docx"  # the DOCX checks refuse it with the right message
    raise Unsupported("cannot tell the file's format: set Content-Type or ?format=docx|md|html|txt")


def decode_text(data: bytes) -> str:
    """UTF-8 (with or without BOM), or UTF-16 with a BOM; else 422."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise Malformed("the file is not valid UTF-16", code="invalid_encoding") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Malformed(
            f"the file is not UTF-8 (byte {exc.start}); save it as UTF-8 and import again",
            code="invalid_encoding",
        ) from None


def parse_file(data: bytes, fmt: str, limits: ImportLimits, title: str = "") -> Document:
    """The file as a document tree (its title: ``title``, else one the file names)."""
    if len(data) > limits.max_bytes:
        raise TooBig(f"the file is over the {limits.max_bytes // (1024 * 1024)} MiB import limit")
    if fmt == "docx":
        from draftroom.imports.docx import parse_docx

        return parse_docx(
            data,
            title,
            max_unpacked=limits.max_unpacked_bytes,
            max_image=limits.max_image_bytes,
        )
    text = decode_text(data)
    if fmt == "md":
        from draftroom.imports.markdown import parse_markdown

        return parse_markdown(text, title)
    if fmt == "html":
        from draftroom.imports.html import parse_html

        return parse_html(text, title)
    if fmt == "txt":
        from draftroom.imports.text import parse_text

        return parse_text(text, title)
    raise Unsupported(f"unknown import format {fmt!r}")
