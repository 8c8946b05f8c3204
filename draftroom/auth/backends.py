"""Where principals come from: one ``CredentialBackend`` per way of signing in.

A secret names its kind by its prefix (``drs_`` a session, ``drt_`` an API token), so
``Auth.principal_for`` asks only the backends whose prefix the secret starts with.
The backend that authenticated a principal is asked again, by ``name`` (the
principal's ``via``), whether it still holds: on every revocation re-check
(``auth/revocation.py``) and when a revoke message arrives. A new way of signing in
is one more backend passed to ``Auth(backends=[...])`` or, from a plugin, the
``draftroom.credentials`` entry point group (docs/EXTENDING.md).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from draftroom.auth.api_tokens import ApiTokens
from draftroom.auth.principal import Principal, effective_scopes
from draftroom.auth.sessions import Sessions
from draftroom.auth.tokens_util import API_TOKEN_PREFIX, SESSION_PREFIX
from draftroom.auth.users import Users


@runtime_checkable
class CredentialBackend(Protocol):
    name: str  # stamped on its principals as ``Principal.via``
    prefix: str  # secrets it accepts start with this ("" accepts any)

    async def authenticate(self, secret: str) -> Principal | None:
        """The principal this secret stands for, or None if it is not valid."""
        ...

    async def still_valid(self, principal: Principal) -> bool:
        """Whether a principal this backend authenticated earlier still holds."""
        ...


class SessionBackend:
    """Browser sessions (``POST /api/sessions``), sent as cookie or Bearer."""

    name = "session"
    prefix = SESSION_PREFIX

    def __init__(self, sessions: Sessions) -> None:
        self.sessions = sessions

    async def authenticate(self, secret: str) -> Principal | None:
        session = await self.sessions.lookup(secret)
        if session is None:
            return None
        return Principal(
            session.user_id,
            session.username,
            session.is_admin,
            self.name,
            session_hash=session.token_hash,
        )

    async def still_valid(self, principal: Principal) -> bool:
        if principal.session_hash is None:
            return False
        return await self.sessions.lookup_hash(principal.session_hash) is not None


class ApiTokenBackend:
    """Scoped API tokens for programs; they act as their user, narrowed."""

    name = "token"
    prefix = API_TOKEN_PREFIX

    def __init__(self, tokens: ApiTokens, users: Users) -> None:
        self.tokens = tokens
        self.users = users

    async def authenticate(self, secret: str) -> Principal | None:
        token = await self.tokens.lookup(secret)
        if token is None:
            return None
        user = await self.users.get(token.user_id)
        if user is None:
            return None
        return Principal(
            user.id,
            user.username,
            user.is_admin and "admin" in token.scopes,
            self.name,
            scopes=effective_scopes(token.scopes),
            token_id=token.id,
        )

    async def still_valid(self, principal: Principal) -> bool:
        if principal.token_id is None:
            return False
        return await self.tokens.get(principal.token_id) is not None
