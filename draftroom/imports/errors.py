"""What an import refuses, and the HTTP status each refusal gets.

A refused file changes nothing: parsing happens before any document is created or
edited. The CLI prints the same message and exits non-zero.
"""

from __future__ import annotations

from draftroom.errors import DraftroomError, Invalid, PayloadTooLarge


class Unsupported(DraftroomError):
    """415: a format (or a variant of one) that is not imported."""

    status, code = 415, "unsupported_format"


class Malformed(Invalid):
    """422: the file claims a format but cannot be read as it."""

    code = "malformed_file"


class TooBig(PayloadTooLarge):
    """413: the file, or what it unpacks to, is over a limit."""

    code = "file_too_large"
