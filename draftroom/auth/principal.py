"""Who is making a request, and with which credential."""

from __future__ import annotations

from dataclasses import dataclass

ALL_SCOPES = frozenset({"read", "write", "admin"})


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
