"""What admission to a document's socket decided, and the per-user message throttle
on its read loop.

The decision itself is ``Auth.admit`` (auth/service.py); it raises from the error
tree, and the WebSocket endpoint (``server/ws_auth.py``) turns each error into the
close code it carries. Order of checks:

    Origin allow-list             -> 4403 "origin not allowed"          (server side)
    credential: Bearer header, session cookie, ?token=, or a first frame
      ``2 (auth), varuint 1 (token), varstring secret``  -> 4401 when missing/invalid
    role on the document (read)   -> 4403, the same whether or not the document exists;
      an unused id is created for a user with the write scope, a deleted one -> 4404
    open sockets of this user     -> 4429
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from draftroom.auth.permissions import allowed
from draftroom.auth.principal import Principal
from draftroom.auth.ratelimit import TokenBucket

if TYPE_CHECKING:
    from draftroom.auth.service import Auth

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


class AdmittedSocket(Protocol):
    """A live socket as revocation sees it (``server.Connection``)."""

    read_only: bool  # flipped when a re-check finds the role changed

    @property
    def admission(self) -> Admission: ...

    @property
    def closed(self) -> bool: ...

    def close(self, code: int, reason: str) -> None: ...

    def role_changed(self) -> None:
        """The admission's role was just changed: tell the client."""


def throttle_for(auth: Auth, principal: Principal) -> Throttle:
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
