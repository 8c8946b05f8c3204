"""The y-websocket wire protocol, plus Draftroom's own app messages.

Frames are binary WebSocket messages: ``varuint type`` then a type-specific body.

    0 sync       varuint subtype (0 step1 | 1 step2 | 2 update), varbytes payload
    1 awareness  varbytes awareness-update
    2 auth       varuint 0 (permission denied), varstring reason
    3 query-awareness (no body)
    100 draftroom  a msgpack map filling the rest of the frame (see docs/PROTOCOL.md)

We encode and decode ourselves rather than through pycrdt's ``Encoder``: the hot
path forwards frames without re-encoding, and pycrdt's ``write_var_string`` writes
the character count instead of the UTF-8 byte count, which corrupts non-ASCII.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import msgpack


class MessageType(IntEnum):
    SYNC = 0
    AWARENESS = 1
    AUTH = 2
    QUERY_AWARENESS = 3
    DRAFTROOM = 100


class SyncType(IntEnum):
    STEP1 = 0
    STEP2 = 1
    UPDATE = 2


class CloseCode(IntEnum):
    """WebSocket close codes Draftroom uses (docs/PROTOCOL.md lists their causes).

    Standard codes where one fits; 44xx mirror the HTTP status they resemble. The
    numbers are a contract with clients: never renumber one.
    """

    MALFORMED_MESSAGE = 1002
    UNSUPPORTED_MESSAGE = 1003
    INVALID_UPDATE = 1007
    SLOW_CONSUMER = 1008
    MESSAGE_TOO_LARGE = 1009
    UNAVAILABLE = 1011
    RESTARTING = 1012
    INVALID_DOCUMENT_ID = 4400
    UNAUTHENTICATED = 4401
    FORBIDDEN = 4403
    DOCUMENT_DELETED = 4404
    DOCUMENT_TOO_LARGE = 4413
    TOO_COMPLEX = 4422
    RATE_LIMITED = 4429


# The stable names app ``error`` messages carry beside the number.
CLOSE_NAMES: dict[int, str] = {code.value: code.name.lower() for code in CloseCode}


class ProtocolError(ValueError):
    """A frame that cannot be decoded. The connection that sent it is closed."""


class UnknownMessage(ProtocolError):
    """A well-formed frame of a type this server does not speak."""


# A varuint never needs more than 10 bytes for a 64-bit value; anything longer is
# an attack or garbage, and without this bound a run of 0xff bytes would be a
# quadratic-time bignum.
_MAX_VARUINT_BYTES = 10


def read_varuint(buf: bytes, pos: int) -> tuple[int, int]:
    result = 0
    shift = 0
    end = min(len(buf), pos + _MAX_VARUINT_BYTES)
    while pos < end:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
    if pos >= len(buf):
        raise ProtocolError("truncated varint")
    raise ProtocolError("varint too long")


def read_varbytes(buf: bytes, pos: int) -> tuple[bytes, int]:
    length, pos = read_varuint(buf, pos)
    end = pos + length
    if end > len(buf):
        raise ProtocolError(f"length {length} exceeds frame ({len(buf) - pos} bytes left)")
    return buf[pos:end], end


def write_varuint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def write_varbytes(data: bytes) -> bytes:
    return write_varuint(len(data)) + data


@dataclass(frozen=True, slots=True)
class SyncMessage:
    subtype: SyncType
    payload: bytes  # a state vector for STEP1, an encoded update otherwise


@dataclass(frozen=True, slots=True)
class AwarenessMessage:
    update: bytes


@dataclass(frozen=True, slots=True)
class QueryAwarenessMessage:
    pass


@dataclass(frozen=True, slots=True)
class AuthMessage:
    body: bytes


@dataclass(frozen=True, slots=True)
class AppMessage:
    data: dict[str, Any]


Message = SyncMessage | AwarenessMessage | QueryAwarenessMessage | AuthMessage | AppMessage


def decode_message(frame: bytes) -> Message:
    """Decode one frame. Raises ProtocolError on anything malformed or unknown."""
    kind, pos = read_varuint(frame, 0)
    if kind == MessageType.SYNC:
        subtype, pos = read_varuint(frame, pos)
        if subtype > SyncType.UPDATE:
            raise UnknownMessage(f"unknown sync message type {subtype}")
        payload, _ = read_varbytes(frame, pos)
        return SyncMessage(SyncType(subtype), payload)
    if kind == MessageType.AWARENESS:
        update, _ = read_varbytes(frame, pos)
        return AwarenessMessage(update)
    if kind == MessageType.QUERY_AWARENESS:
        return QueryAwarenessMessage()
    if kind == MessageType.AUTH:
        return AuthMessage(frame[pos:])
    if kind == MessageType.DRAFTROOM:
        return AppMessage(decode_app(frame[pos:]))
    raise UnknownMessage(f"unknown message type {kind}")


def decode_app(body: bytes) -> dict[str, Any]:
    try:
        data = msgpack.unpackb(body, raw=False, strict_map_key=True)
    except Exception as exc:  # msgpack raises several unrelated exception types
        raise ProtocolError(f"invalid msgpack: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise ProtocolError("app message must be a map with a string 'type'")
    return data


def encode_sync(subtype: SyncType, payload: bytes) -> bytes:
    return bytes((MessageType.SYNC, subtype)) + write_varbytes(payload)


def encode_awareness(update: bytes) -> bytes:
    return bytes((MessageType.AWARENESS,)) + write_varbytes(update)


def encode_app(data: dict[str, Any]) -> bytes:
    return bytes((MessageType.DRAFTROOM,)) + msgpack.packb(data, use_bin_type=True)


def encode_auth_denied(reason: str) -> bytes:
    raw = reason.encode()
    return bytes((MessageType.AUTH, 0)) + write_varbytes(raw)


def as_update_frame(frame: bytes, message: SyncMessage) -> bytes:
    """The frame to forward to other clients for an incoming step2 or update.

    An incoming UPDATE is forwarded byte for byte; a STEP2 is re-tagged, because
    other clients must see it as an ordinary update.
    """
    if message.subtype == SyncType.UPDATE:
        return frame
    return encode_sync(SyncType.UPDATE, message.payload)
