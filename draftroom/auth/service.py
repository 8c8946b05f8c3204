"""The auth service: one per node. Resolves credentials to principals, answers
"may this principal do that to this document?", and revokes access everywhere.

A feature of the node (``draftroom.features``), installed by the composition root
(``server/app.py``); handlers reach it as ``node.feature(Auth)``.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import HTTPConnection

from draftroom.auth.api_tokens import ApiTokens
from draftroom.auth.connection_cap import ConnectionCap
from draftroom.auth.origins import SESSION_COOKIE, parse_origins
from draftroom.auth.permissions import Members, allowed, role_of
from draftroom.auth.principal import ANONYMOUS, Principal, effective_scopes
from draftroom.auth.ratelimit import Limiter, TokenBucket
from draftroom.auth.redis_link import RedisLink
from draftroom.auth.sessions import Sessions
from draftroom.auth.tokens_util import API_TOKEN_PREFIX, SESSION_PREFIX
from draftroom.auth.users import Users
from draftroom.config import Settings
from draftroom.errors import (
    DocumentDeleted,
    DocumentExists,
    Forbidden,
    LastOwner,
    RateLimited,
    Unauthenticated,
)
from draftroom.features import BaseFeature
from draftroom.store.base import DocumentMeta

if TYPE_CHECKING:
    from draftroom.node import Node

log = logging.getLogger(__name__)

REVOKE = "auth.revoke"
# Sent to every node once an account is gone; features holding per-user data
# (analytics) erase it. {"type": "user.deleted", "user": <id>}
USER_DELETED = "user.deleted"
Announce = Callable[[dict[str, Any]], None]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def settings_problem(settings: Settings) -> str | None:
    """Why the server must refuse to start with these auth settings, or None."""
    if settings.allow_anonymous and not is_loopback(settings.host):
        return (
            f"--allow-anonymous is for local development and needs a loopback --host, "
            f"not {settings.host!r}"
        )
    return None


def client_ip(conn: HTTPConnection) -> str:
    # The peer address as the server sees it. Behind a reverse proxy run uvicorn with
    # --forwarded-allow-ips so this is the real client, not the proxy.
    return conn.client.host if conn.client else "unknown"


async def delete_account(
    sessions: Sessions, users: Users, members: Members, user_id: str, announce: Announce
) -> bool:
    """The one way an account is deleted, for the API and ``draftroom user delete``:
    end its sessions, delete it, then tell every node (sockets are cut off, and
    features erase what they hold about the user). Raises LastOwner, listing them,
    while the user is the only owner of any document."""
    sole = await members.sole_owned(user_id)
    if sole:
        raise LastOwner(documents=sole)
    await sessions.revoke_user(user_id)
    found = await users.delete(user_id)
    announce({"type": REVOKE, "user": user_id})
    announce({"type": USER_DELETED, "user": user_id})
    return found


class Auth(BaseFeature):
    def __init__(self, node: Node) -> None:
        settings = node.settings
        problem = settings_problem(settings)
        if problem:
            raise ValueError(problem)
        self.node = node
        self.settings = settings
        self.redis = RedisLink(settings.redis_url)
        sql = node.store.sql
        self.users = Users(sql)
        self.sessions = Sessions(sql, self.redis, settings.session_ttl_seconds)
        self.tokens = ApiTokens(sql)
        self.members = Members(sql)
        self.limiter = Limiter(self.redis)
        self.origins = parse_origins(settings.allowed_origins)
        self.allowed_hosts = frozenset(
            h.strip().lower() for h in settings.allowed_hosts.split(",") if h.strip()
        )
        # Per-user WebSocket throttles on this node: (messages, bytes).
        self.ws_buckets: dict[str, tuple[TokenBucket, TokenBucket]] = {}
        self.connection_cap = ConnectionCap(
            self.redis,
            lambda: node.node_id,
            lambda user: sum(1 for c in node.connections if c.user == user),
        )

    # -- who is asking ----------------------------------------------------------

    def credential(self, conn: HTTPConnection, *, allow_query: bool) -> tuple[str | None, str]:
        """(secret, where it came from): Bearer header, session cookie, or ?token=."""
        header = conn.headers.get("authorization", "")
        if header[:7].lower() == "bearer ":
            return header[7:].strip(), "bearer"
        cookie = conn.cookies.get(SESSION_COOKIE)
        if cookie:
            return cookie, "cookie"
        if allow_query:
            # y-websocket can only pass credentials as URL params (browsers cannot set
            # WebSocket headers); HTTP callers must use the header, which is not logged.
            token = conn.query_params.get("token")
            if token:
                return token, "query"
        return None, ""

    async def principal_for(self, secret: str) -> Principal | None:
        if secret.startswith(SESSION_PREFIX):
            session = await self.sessions.lookup(secret)
            if session is None:
                return None
            return Principal(
                session.user_id,
                session.username,
                session.is_admin,
                "session",
                session_hash=session.token_hash,
            )
        if secret.startswith(API_TOKEN_PREFIX):
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
                "token",
                scopes=effective_scopes(token.scopes),
                token_id=token.id,
            )
        return None

    async def authenticate(self, conn: HTTPConnection) -> Principal | None:
        """The caller, or None. Anonymous mode fills in the local user."""
        if "principal" in conn.scope:
            principal: Principal | None = conn.scope["principal"]
            return principal
        secret, _ = self.credential(conn, allow_query=False)
        principal = await self.principal_for(secret) if secret else None
        if principal is None and secret is None and self.settings.allow_anonymous:
            principal = ANONYMOUS
        conn.scope["principal"] = principal
        return principal

    async def require(self, conn: HTTPConnection) -> Principal:
        """The authenticated caller (401 otherwise), counted against its API rate."""
        principal = await self.authenticate(conn)
        if principal is None:
            raise Unauthenticated("log in or send a valid Bearer token")
        if not principal.anonymous and not conn.scope.get("principal_counted"):
            conn.scope["principal_counted"] = True
            wait = await self.limiter.hit(
                f"api:user:{principal.user_id}", self.settings.api_rate_per_minute, 60
            )
            if wait is not None:
                raise RateLimited("too many API calls; slow down", retry_after=wait)
        return principal

    async def require_admin(self, conn: HTTPConnection) -> Principal:
        principal = await self.require(conn)
        if not principal.is_admin or "admin" not in principal.scopes:
            raise Forbidden("site admin only")
        return principal

    # -- may they -----------------------------------------------------------------

    async def role(self, principal: Principal, doc_id: str) -> str | None:
        return await role_of(self.members, principal, doc_id)

    async def create_document(
        self, principal: Principal, doc_id: str, title: str = ""
    ) -> DocumentMeta:
        """Create ``doc_id`` with ``principal`` as its only owner.

        Never shares silently: an id that has a document, or on which anyone already
        holds a role, raises DocumentExists whoever holds it; a deleted id raises
        DocumentDeleted. The store's insert decides races between two creators.
        """
        store = self.node.store
        if await self.members.any(doc_id):
            raise DocumentExists(doc_id)
        meta = await store.create_document(doc_id, title)
        if meta is None:
            raise (
                DocumentDeleted(doc_id)
                if await store.is_deleted(doc_id)
                else DocumentExists(doc_id)
            )
        if not principal.anonymous:
            await self.members.grant(doc_id, principal.user_id, "owner")
        return meta

    async def ws_role(self, principal: Principal, doc_id: str) -> str | None:
        """The role for opening a socket; None means 4403.

        y-websocket clients create documents by connecting, so a socket to an unused
        id creates the document, owned by its user, when that user may create
        documents at all (the ``write`` scope, as for POST). Everyone else gets the
        same None whether or not the document exists, so a socket does not tell a
        stranger which ids are in use. Raises DocumentDeleted (4404) for a deleted id
        to those who could otherwise have re-created it.
        """
        if not principal.is_admin:
            role = await self.members.role(doc_id, principal.user_id)
            if role is not None:
                return role  # the roles on a deleted document went with it
        if await self.node.store.get_document(doc_id) is not None:
            return "owner" if principal.is_admin else None
        if "write" not in principal.scopes:
            if not principal.is_admin:
                return None
            if await self.node.store.is_deleted(doc_id):
                raise DocumentDeleted(doc_id)
            return "owner"
        try:
            await self.create_document(principal, doc_id)
        except DocumentExists:
            # Created meanwhile by someone else, or roles on an id with no document yet.
            if principal.is_admin:
                return "owner"
            return await self.members.role(doc_id, principal.user_id)
        return "owner"

    async def authorize(self, conn: HTTPConnection, doc_id: str, action: str) -> Principal:
        principal = await self.require(conn)
        role = await self.role(principal, doc_id)
        if role is None:
            raise Forbidden("you have no access to this document")
        if not allowed(role, principal, action):
            raise Forbidden(f"{action} needs a higher role or token scope (you: {role})")
        return principal

    # -- taking access away, on every node ----------------------------------------

    def announce(self, **data: str) -> None:
        """Tell every node (this one too) to cut off matching live sockets now."""
        self.node.broadcast_control({"type": REVOKE, **data})

    async def logout(self, token_hash: str) -> None:
        await self.sessions.revoke(token_hash)
        self.announce(session=token_hash)

    async def delete_user(self, user_id: str) -> bool:
        """Delete the account, its credentials and roles; raises LastOwner (listing
        them) while the user is the only owner of any document, since a document must
        always keep an owner: make someone else owner, or delete those documents, first.
        """
        return await delete_account(
            self.sessions, self.users, self.members, user_id, self.node.broadcast_control
        )

    async def revoke_token(self, token_id: str) -> bool:
        found = await self.tokens.revoke(token_id)
        self.announce(token=token_id)
        return found

    async def set_role(self, doc_id: str, user_id: str, role: str | None) -> bool:
        """Grant (role) or revoke (None); live sockets re-check at once either way.
        Raises LastOwner instead of leaving the document without an owner."""
        if role is None:
            found = await self.members.revoke(doc_id, user_id)
        else:
            await self.members.grant(doc_id, user_id, role)
            found = True
        self.announce(user=user_id, doc=doc_id)
        return found

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        self.connection_cap.start()
        if self.settings.allow_anonymous:
            log.warning(
                "anonymous access is ON (--allow-anonymous): every client on this machine "
                "is an owner of every document. Local development only."
            )
        elif await self.users.count() == 0:
            log.warning(
                "no accounts yet. Create the first (a site admin) with:  "
                "draftroom user create NAME --admin%s",
                _store_flags(self.settings.database_url, str(self.settings.data_dir)),
            )

    async def stop(self) -> None:
        await self.connection_cap.stop()
        await self.redis.close()


def _store_flags(database_url: str | None, data_dir: str) -> str:
    if database_url:
        return " --database-url URL"
    return f" --data-dir {data_dir}" if data_dir != "data" else ""
