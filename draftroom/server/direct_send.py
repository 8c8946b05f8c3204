"""Writing a broadcast frame straight to a client's socket.

Fan-out is one frame per receiver per update, and through ASGI each costs a
coroutine, an event wait, websockets' frame building and a join before the one
``transport.write`` that matters: a third of the server's CPU in the fan-out
profile. A frame from server to client is never masked, so a broadcast's bytes are
the same for every receiver: it is encoded once (the last payload is remembered) and
written to each transport.

This reaches into uvicorn's ``websockets-sansio`` protocol (the one the runner
selects) for its transport and state, so it is used only when everything matches:
that implementation, no extension negotiated (per-message deflate would need a
compressor per connection), the connection open, the transport writable and no close
sent. Anything else, including flow control pushing back, returns False and the
frame takes the ordinary ASGI path, which waits and keeps order (connection.py).
Keepalive pings and the close frame are written by uvicorn whole, so frames never
interleave mid-frame.
"""

from __future__ import annotations

from typing import Any

from websockets.protocol import State

try:
    from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
except ImportError:  # pragma: no cover - another server or uvicorn version
    WebSocketsSansIOProtocol = None  # type: ignore[assignment,misc]

_BINARY_FIN = 0x82

_last_payload: bytes | None = None
_last_frame = b""


def encode_frame(payload: bytes) -> bytes:
    """An unmasked, final binary frame (RFC 6455 §5.2) carrying ``payload``."""
    global _last_payload, _last_frame
    if payload is _last_payload:  # the same broadcast, next receiver
        return _last_frame
    size = len(payload)
    if size < 126:
        header = bytes((_BINARY_FIN, size))
    elif size < 65536:
        header = bytes((_BINARY_FIN, 126)) + size.to_bytes(2, "big")
    else:
        header = bytes((_BINARY_FIN, 127)) + size.to_bytes(8, "big")
    # Holding the payload keeps its id from being reused by another object.
    _last_payload, _last_frame = payload, header + payload
    return _last_frame


class DirectWriter:
    __slots__ = ("_conn", "_protocol", "_transport", "_writable")

    def __init__(self, protocol: Any) -> None:
        self._protocol = protocol
        self._conn = protocol.conn
        self._transport = protocol.transport
        self._writable = protocol.writable

    def write(self, payload: bytes) -> bool:
        """Write the frame now; False when the ordinary path must take it."""
        protocol = self._protocol
        if (
            protocol.close_sent
            or protocol.disconnected
            or self._conn.state is not State.OPEN
            or not self._writable.is_set()
            or self._transport.is_closing()
        ):
            return False
        self._transport.write(encode_frame(payload))
        return True


def direct_writer(send: Any) -> DirectWriter | None:
    """A writer for the connection behind this ASGI ``send``, when it is safe to use."""
    protocol = getattr(send, "__self__", None)
    if WebSocketsSansIOProtocol is None or not isinstance(protocol, WebSocketsSansIOProtocol):
        return None
    if not protocol.handshake_complete or protocol.conn.extensions:
        return None
    return DirectWriter(protocol)
