"""The socket side of admission: reading the credential, and closing with the
denial. ``Auth.admit`` (auth/service.py) decides; this module owns the socket.

A client without a header, cookie or ``?token=`` credential gets
``auth_timeout_seconds`` to send one as its first frame:
``2 (auth), varuint 1 (token), varstring secret``. A refusal sends y-websocket's
"permission denied" auth message, then closes with the code the error carries
(docs/PROTOCOL.md).
"""

from __future__ import annotations

import asyncio

from starlette.websockets import WebSocket

from draftroom.auth.admission import Admission
from draftroom.auth.origins import origin_allowed
from draftroom.auth.service import Auth
from draftroom.crdt.protocol import (
    CloseCode,
    MessageType,
    ProtocolError,
    encode_auth_denied,
    read_varbytes,
    read_varuint,
)
from draftroom.errors import DraftroomError, Forbidden, Unauthenticated
from draftroom.server.credentials import credential

AUTH_TOKEN = 1  # our client->server auth subtype (y-protocols only defines 0, denied)


async def admit(websocket: WebSocket, auth: Auth, doc_id: str) -> Admission:
    """Authenticate and authorize a just-accepted socket. Raises from the error tree
    (Forbidden, Unauthenticated, DocumentDeleted, RateLimited); ``deny`` shows it."""
    if not origin_allowed(websocket.headers, websocket.url.scheme, auth.origins):
        raise Forbidden("origin not allowed")
    secret, _ = credential(websocket, allow_query=True)
    if secret is None and not auth.settings.allow_anonymous:
        secret = await read_auth_frame(websocket, auth.settings.auth_timeout_seconds)
        if secret is None:
            raise Unauthenticated("authentication required")
    principal = await auth.require_principal(secret)
    return await auth.admit(principal, doc_id)


async def deny(websocket: WebSocket, exc: DraftroomError) -> None:
    """Refuse a socket before it joins a room: the auth-denied message, then the close
    code the error carries (an error without one is the server's: 1011)."""
    code = exc.close_code or CloseCode.UNAVAILABLE
    try:
        await websocket.send_bytes(encode_auth_denied(exc.message))
        await websocket.close(code, exc.message)
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


async def read_auth_frame(websocket: WebSocket, wait: float) -> str | None:
    try:
        async with asyncio.timeout(wait):
            message = await websocket.receive()
    except TimeoutError:
        return None
    frame = message.get("bytes")
    if message["type"] != "websocket.receive" or not frame:
        return None
    return parse_auth_frame(frame)
