"""How a cached reply is stored: its chunks as one msgpack blob."""

from __future__ import annotations

from typing import Any

import msgpack


def encode(chunks: list[dict[str, Any]]) -> bytes:
    return msgpack.packb(chunks, use_bin_type=True)


def decode(blob: bytes) -> list[dict[str, Any]] | None:
    try:
        chunks = msgpack.unpackb(blob, raw=False)
    except Exception:  # a corrupt entry is a miss, never an error for the requester
        return None
    return chunks if isinstance(chunks, list) else None
