"""Opaque bearer secrets: 256 random bits, stored and compared only as SHA-256."""

from __future__ import annotations

import hashlib
import secrets

SESSION_PREFIX = "drs_"
API_TOKEN_PREFIX = "drt_"
MAX_TOKEN_LENGTH = 128  # anything longer is not ours; refuse before hashing


def new_secret(prefix: str) -> str:
    # The prefix lets leaked-secret scanners and humans tell the two kinds apart.
    return prefix + secrets.token_urlsafe(32)


def secret_hash(secret: str) -> str:
    # A fast hash is right here (unlike passwords): the input has 256 bits of entropy.
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def csrf_token(session_secret: str) -> str:
    """The CSRF token bound to a session: derivable only by whoever holds the session."""
    return hashlib.sha256(b"draftroom-csrf:" + session_secret.encode()).hexdigest()[:43]
