"""How cache entries are stored: msgpack, compressed when large; corrupt means a miss."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from draftroom.agents.cache import codec

CHUNK = st.dictionaries(
    st.text(max_size=8),
    st.one_of(st.integers(-(2**63), 2**64 - 1), st.text(max_size=300), st.none()),
    max_size=5,
)


@given(st.lists(CHUNK, max_size=60))
def test_any_reply_round_trips(chunks: list[dict]) -> None:
    assert codec.decode(codec.encode(chunks)) == chunks


def test_a_large_repetitive_reply_is_stored_compressed() -> None:
    issue = {"start": 10, "end": 21, "check": "uncomparables", "message": "Comparison of an "
             "uncomparable: 'very unique' is not comparable.", "replacement": None}  # fmt: skip
    chunks = [{"issues": [issue] * 200} for _ in range(20)]
    blob = codec.encode(chunks)
    assert blob[:1] == b"z" and len(blob) * 10 < len(codec.msgpack.packb(chunks))
    assert codec.decode(blob) == chunks
    small = [{"summary": {"issues": 1}}]
    assert codec.encode(small) == codec.msgpack.packb(small)


@given(st.binary(max_size=200))
def test_garbage_decodes_to_a_miss_or_a_list(blob: bytes) -> None:
    decoded = codec.decode(blob)
    assert decoded is None or isinstance(decoded, list)
    assert codec.decode(b"z" + blob) is None or isinstance(codec.decode(b"z" + blob), list)
