"""The auth service: one per node. Resolves credentials to principals, answers
"may this principal do that to this document?", and revokes access everywhere.

A feature of the node (``draftroom.features``), installed by the composition root
(``server/app.py``); handlers reach it as ``node.feature(Auth)``.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable, MutableMapping, Sequence
from typing import Any, Protocol

from draftroom.auth.admission import Admission, throttle_for
from draftroom.auth.api_tokens import ApiTokens
from draftroom.auth.backends import ApiTokenBackend, CredentialBackend, SessionBackend
from draftroom.auth.connection_cap import ConnectionCap
from draftroom.auth.origins import parse_origins
from draftroom.auth.permissions import Members, allowed, role_of
from draftroom.auth.principal import ANONYMOUS, Principal
from draftroom.auth.ratelimit import Limiter, TokenBucket
from draftroom.auth.sessions import Sessions
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
from draftroom.plugins import entry_points
from draftroom.redis import RedisLink
from draftroom.store.base import SQL, DocumentMeta

log = logging.getLogger(__name__)

REVOKE = "auth.revoke"
# Sent to every node once an account is gone; features holding per-user data
# (analytics) erase it. {"type": "user.deleted", "user": <id>}
USER_DELETED = "user.deleted"
Announce = Callable[[dict[str, Any]], None]
# Where the server edge (``server/credentials.py``) leaves the secret a request carried,
# in the ASGI scope: auth reads strings, never headers or cookies.
CREDENTIAL = "draftroom.credential"
# Plugins add ways of signing in here: a callable taking the ``Auth`` and returning a
# ``CredentialBackend`` (docs/EXTENDING.md).
BACKENDS_GROUP = "draftroom.credentials"


class Caller(Protocol):
    """An HTTP request or WebSocket as auth sees it: only its ASGI scope, where the
    server edge put the credential and where the principal is remembered."""

    @property
    def scope(self) -> MutableMapping[str, Any]: ...


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


class Request(Caller, Protocol):
    """A Starlette request or WebSocket, as far as the route guard needs one."""

    @property
    def app(self) -> Any: ...


async def authorize(conn: Request, doc_id: str, action: str) -> Principal:
    """The route guard: the caller's principal if it may do ``action`` on ``doc_id``.

    Raises Unauthenticated without credentials, Forbidden without the role or token
    scope.
    """
    auth: Auth = conn.app.state.node.feature(Auth)
    return await auth.authorize(conn, doc_id, action)


def plugin_backends(auth: Auth) -> list[CredentialBackend]:
    """The backends installed packages add through the ``draftroom.credentials`` group."""
    found: list[CredentialBackend] = []
    for ep in entry_points(BACKENDS_GROUP):
        try:
            found.append(ep.load()(auth))
        except Exception:
            log.exception("credential backend %s could not be loaded; skipped", ep.value)
    return found


class Documents(Protocol):
    """The part of the store auth needs: does an id have a document, was it deleted,
    and creating one (``Store`` fits)."""

    async def get_document(self, doc_id: str) -> DocumentMeta | None: ...

    async def is_deleted(self, doc_id: str) -> bool: ...

    async def create_document(self, doc_id: str, title: str) -> DocumentMeta | None: ...


class Auth(BaseFeature):
    def __init__(
        self,
        settings: Settings,
        sql: SQL,
        *,
        redis: RedisLink,
        documents: Documents,
        announce: Announce,
        node_id: Callable[[], str] = lambda: "local",
        open_sockets: Callable[[str], int] = lambda user: 0,
        backends: Sequence[CredentialBackend] | None = None,
    ) -> None:
        """Collaborators come from the composition root (``server/app.py``):
        ``redis`` is the node's request-path link (shared; its owner closes it),
        ``announce`` sends a control message to every node (this one too),
        ``node_id`` and ``open_sockets`` (a user's sockets on this node) serve the
        per-user connection cap. ``backends``: the ways of signing in, asked in order;
        by default sessions, API tokens, then any from plugins."""
        problem = settings_problem(settings)
        if problem:
            raise ValueError(problem)
        self.settings = settings
        self.documents = documents
        self.broadcast = announce
        self.redis = redis
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
        self.connection_cap = ConnectionCap(self.redis, node_id, open_sockets)
        self.backends: list[CredentialBackend] = (
            list(backends)
            if backends is not None
            else [
                SessionBackend(self.sessions),
                ApiTokenBackend(self.tokens, self.users),
                *plugin_backends(self),
            ]
        )

    # -- who is asking ----------------------------------------------------------

    async def principal_for(self, secret: str) -> Principal | None:
        """The principal a secret stands for, from the first backend that knows it."""
        for backend in self.backends:
            if secret.startswith(backend.prefix):
                principal = await backend.authenticate(secret)
                if principal is not None:
                    return principal
        return None

    async def still_valid(self, principal: Principal) -> bool:
        """Whether the credential behind a principal still holds (revocation re-check)."""
        if principal.anonymous:
            return True
        for backend in self.backends:
            if backend.name == principal.via:
                return await backend.still_valid(principal)
        return False

    async def require_principal(self, secret: str | None) -> Principal:
        """The principal for a socket's secret; no secret is the local user in
        anonymous mode. Raises Unauthenticated."""
        if secret is None:
            if self.settings.allow_anonymous:
                return ANONYMOUS
            raise Unauthenticated("authentication required")
        principal = await self.principal_for(secret)
        if principal is None:
            raise Unauthenticated("invalid or expired credentials")
        return principal

    async def authenticate(self, conn: Caller) -> Principal | None:
        """The caller, or None. Anonymous mode fills in the local user."""
        if "principal" in conn.scope:
            principal: Principal | None = conn.scope["principal"]
            return principal
        secret: str | None = conn.scope.get(CREDENTIAL)
        principal = await self.principal_for(secret) if secret else None
        if principal is None and secret is None and self.settings.allow_anonymous:
            principal = ANONYMOUS
        conn.scope["principal"] = principal
        return principal

    async def require(self, conn: Caller) -> Principal:
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

    async def require_admin(self, conn: Caller) -> Principal:
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
        store = self.documents
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
        if await self.documents.get_document(doc_id) is not None:
            return "owner" if principal.is_admin else None
        if "write" not in principal.scopes:
            if not principal.is_admin:
                return None
            if await self.documents.is_deleted(doc_id):
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

    async def admit(self, principal: Principal, doc_id: str) -> Admission:
        """Admission of ``principal`` to a socket on ``doc_id``. Raises Forbidden
        without a role that may read, DocumentDeleted for a deleted id, and
        RateLimited past the per-user connection cap; the endpoint closes the socket
        with the code each carries."""
        try:
            role = await self.ws_role(principal, doc_id)
        except DocumentDeleted as exc:
            raise DocumentDeleted("document deleted") from exc
        if role is None or not allowed(role, principal, "read"):
            raise Forbidden("you have no access to this document")
        cap = self.settings.max_connections_per_user
        lease = None
        if not principal.anonymous and cap > 0:
            # Counted across every node when Redis is configured (see connection_cap.py).
            lease = await self.connection_cap.acquire(principal.user_id, cap)
            if lease is None:
                raise RateLimited(f"more than {cap} connections")
        return Admission(principal, doc_id, role, throttle_for(self, principal), lease)

    async def authorize(self, conn: Caller, doc_id: str, action: str) -> Principal:
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
        self.broadcast({"type": REVOKE, **data})

    async def logout(self, token_hash: str) -> None:
        await self.sessions.revoke(token_hash)
        self.announce(session=token_hash)

    async def delete_user(self, user_id: str) -> bool:
        """The one way an account is deleted, for the API and ``draftroom user delete``:
        end its sessions, delete it with its credentials and roles, then tell every node
        (sockets are cut off, and features erase what they hold about the user).

        Raises LastOwner, listing them, while the user is the only owner of any
        document, since a document must always keep an owner: make someone else owner,
        or delete those documents, first.
        """
        sole = await self.members.sole_owned(user_id)
        if sole:
            raise LastOwner(documents=sole)
        await self.sessions.revoke_user(user_id)
        found = await self.users.delete(user_id)
        self.broadcast({"type": REVOKE, "user": user_id})
        self.broadcast({"type": USER_DELETED, "user": user_id})
        return found

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


def _store_flags(database_url: str | None, data_dir: str) -> str:
    if database_url:
        return " --database-url URL"
    return f" --data-dir {data_dir}" if data_dir != "data" else ""
