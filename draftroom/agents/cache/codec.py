"""How a cached reply is stored: its chunks as one msgpack blob, compressed when large.

A style check of a novel (~4,000 findings) is ~600 KB of msgpack but only ~60-90 KB
compressed, so compression decides whether the replies writers of long documents ask
for most fit under the entry cap at all. zlib level 1 costs a few milliseconds on such
a reply, once per computation; small replies are stored as they are.
"""

from __future__ import annotations

import zlib
from typing import Any

import msgpack

COMPRESS_ABOVE = 4096
_ZLIB = b"z"  # a msgpack list never starts with this byte (0x7a is a positive fixint)


def encode(chunks: list[dict[str, Any]]) -> bytes:
    packed: bytes = msgpack.packb(chunks, use_bin_type=True)
    if len(packed) > COMPRESS_ABOVE:
        return _ZLIB + zlib.compress(packed, 1)
    return packed


def decode(blob: bytes) -> list[dict[str, Any]] | None:
    try:
        if blob[:1] == _ZLIB:
            blob = zlib.decompress(blob[1:])
        chunks = msgpack.unpackb(blob, raw=False)
    except Exception:  # a corrupt entry is a miss, never an error for the requester
        return None
    return chunks if isinstance(chunks, list) else None
