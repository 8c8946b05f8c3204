"""Admission to the WebSocket, and the per-user message throttle on its read loop.

Order of checks (each failure sends y-websocket's "permission denied" auth message,
then closes with a code and reason):

    Origin allow-list             -> 4403 "origin not allowed"
    credential: Bearer header, session cookie, ?token=, or a first frame
      ``2 (auth), varuint 1 (token), varstring secret``  -> 4401 when missing/invalid
    role on the document (read)   -> 4403, the same whether or not the document exists;
      an unused id is created for a user with the write scope, a deleted one -> 4404
    open sockets of this user     -> 4429
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.websockets import WebSocket

from draftroom.auth.origins import origin_allowed
from draftroom.auth.permissions import allowed
from draftroom.auth.principal import ANONYMOUS, Principal
from draftroom.auth.ratelimit import TokenBucket
from draftroom.crdt.protocol import (
    CloseCode,
    MessageType,
    ProtocolError,
    encode_auth_denied,
    read_varbytes,
    read_varuint,
)
from draftroom.errors import DocumentDeleted

if TYPE_CHECKING:
    from draftroom.auth.service import Auth

AUTH_TOKEN = 1  # our client->server auth subtype (y-protocols only defines 0, denied)

# A client kept waiting by the throttle this long without a break is not bursting,
# it is flooding. (uvicorn stops reading the socket while we wait, so the backlog
# stays in the client's TCP buffers, not in our memory.)
FLOOD_SECONDS = 3.0


@dataclass
class Throttle:
    """Pauses this socket's reads when its user exceeds the message or byte rate.

    Pausing only this reader slows only the flooder: the room, its other peers and
    the commit path never wait. Sustained excess closes the socket with 4429.
    """

    messages: TokenBucket
    bytes: TokenBucket
    throttled_for: float = 0.0  # seconds waited since the client last kept to its rate

    async def admit(self, size: int) -> bool:
        wait = max(self.messages.take(1), self.bytes.take(size))
        if wait <= 0:
            self.throttled_for = 0.0
            return True
        wait = min(wait, FLOOD_SECONDS)
        self.throttled_for += wait
        if self.throttled_for > FLOOD_SECONDS:
            return False
        await asyncio.sleep(wait)
        return True


@dataclass
class Admission:
    principal: Principal
    doc_id: str
    role: str
    throttle: Throttle
    lease: str | None = None  # this socket's place under the per-user connection cap

    async def release(self, auth: Auth) -> None:
        await auth.connection_cap.release(self.lease)
        self.lease = None

    @property
    def read_only(self) -> bool:
        return not allowed(self.role, self.principal, "edit")


def _buckets(auth: Auth, principal: Principal) -> Throttle:
    s = auth.settings
    if principal.anonymous:
        # Local development: every socket is "the same" user; limit each one alone.
        messages = TokenBucket(s.ws_messages_per_second, s.ws_messages_per_second * 5)
        size = TokenBucket(s.ws_bytes_per_second, max(s.ws_bytes_per_second, s.max_message_bytes))
        return Throttle(messages, size)
    # One pair of buckets per user on this node, shared by all their sockets.
    key = principal.user_id
    pair = auth.ws_buckets.get(key)
    if pair is None:
        pair = (
            TokenBucket(s.ws_messages_per_second, s.ws_messages_per_second * 5),
            TokenBucket(s.ws_bytes_per_second, max(s.ws_bytes_per_second, s.max_message_bytes)),
        )
        auth.ws_buckets[key] = pair
    return Throttle(*pair)


async def _deny(websocket: WebSocket, code: CloseCode, reason: str) -> None:
    try:
        await websocket.send_bytes(encode_auth_denied(reason))
        await websocket.close(code, reason)
    except (RuntimeError, OSError):
        pass  # already gone


def parse_auth_frame(frame: bytes) -> str | None:
    """The secret in a client auth message, or None if the frame is not one."""
    try:
        kind, pos = read_varuint(frame, 0)
        if kind != MessageType.AUTH:
            return None
        subtype, pos = read_varuint(frame, pos)
        if subtype != AUTH_TOKEN:
            return None
        raw, _ = read_varbytes(frame, pos)
        return raw.decode("utf-8")
    except (ProtocolError, UnicodeDecodeError):
        return None


async def _auth_message(websocket: WebSocket, wait: float) -> str | None:
    try:
        async with asyncio.timeout(wait):
            message = await websocket.receive()
    except TimeoutError:
        return None
    frame = message.get("bytes")
    if message["type"] != "websocket.receive" or not frame:
        return None
    return parse_auth_frame(frame)


async def admit(websocket: WebSocket, auth: Auth, doc_id: str) -> Admission | None:
    """Authenticate and authorize a just-accepted socket; None once it has been closed."""
    if not origin_allowed(websocket.headers, websocket.url.scheme, auth.origins):
        await _deny(websocket, CloseCode.FORBIDDEN, "origin not allowed")
        return None
    secret, _ = auth.credential(websocket, allow_query=True)
    if secret is None and not auth.settings.allow_anonymous:
        secret = await _auth_message(websocket, auth.settings.auth_timeout_seconds)
        if secret is None:
            await _deny(websocket, CloseCode.UNAUTHENTICATED, "authentication required")
            return None
    principal = await auth.principal_for(secret) if secret is not None else ANONYMOUS
    if principal is None:
        await _deny(websocket, CloseCode.UNAUTHENTICATED, "invalid or expired credentials")
        return None
    try:
        role = await auth.ws_role(principal, doc_id)
    except DocumentDeleted:
        await _deny(websocket, CloseCode.DOCUMENT_DELETED, "document deleted")
        return None
    if role is None or not allowed(role, principal, "read"):
        await _deny(websocket, CloseCode.FORBIDDEN, "you have no access to this document")
        return None
    cap = auth.settings.max_connections_per_user
    lease = None
    if not principal.anonymous and cap > 0:
        # Counted across every node when Redis is configured (see connection_cap.py).
        lease = await auth.connection_cap.acquire(principal.user_id, cap)
        if lease is None:
            await _deny(websocket, CloseCode.RATE_LIMITED, f"more than {cap} connections")
            return None
    return Admission(principal, doc_id, role, _buckets(auth, principal), lease)
