"""Who is making a request, and with which credential."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

ALL_SCOPES = frozenset({"read", "write", "admin"})

# Token scopes are a ladder (docs/SECURITY.md): each includes those below it, so a
# ``write`` token can open the document it edits and an ``admin`` one can see what it
# shares or deletes. Checks then ask for the one scope an action needs.
_LADDER = ("read", "write", "admin")


def effective_scopes(granted: Iterable[str]) -> frozenset[str]:
    """The scopes a token acts with: those granted plus every one below them."""
    top = max((_LADDER.index(s) for s in granted if s in _LADDER), default=-1)
    return frozenset(_LADDER[: top + 1])


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: str
    username: str
    is_admin: bool  # site admin: owner of every document, manages users
    via: str  # "session", "token" or "anonymous"
    scopes: frozenset[str] = ALL_SCOPES  # narrowed only for API tokens
    session_hash: str | None = None
    token_id: str | None = None

    @property
    def anonymous(self) -> bool:
        return self.via == "anonymous"


# Local development with --allow-anonymous: every unauthenticated client is this
# owner-level user (see docs/SECURITY.md). Only ever honoured on a loopback host.
ANONYMOUS = Principal("anonymous", "anonymous", True, "anonymous")
