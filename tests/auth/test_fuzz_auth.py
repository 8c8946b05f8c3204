"""Hypothesis against the auth surface: handshakes, auth messages, app messages, frames
from a read-only peer. After every input the server is alive, the room serves others,
and the store is unchanged."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import msgpack
import pytest
import websockets
from hypothesis import HealthCheck, assume, find, given, settings
from hypothesis import strategies as st
from hypothesis.errors import NoSuchExample
from pycrdt import Text

from auth.helpers import add_user, auth_settings, bearer, login
from devtools.inprocess import RunningServer, running_server
from draftroom.client import DraftroomClient
from draftroom.crdt.protocol import MessageType, ProtocolError, decode_app, write_varuint
from draftroom.document.load import build_doc
from draftroom.server.ws_auth import parse_auth_frame

# Example counts come from the profile (tests/conftest.py): a fixed set in CI, many more
# under scripts/fuzz.
FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# -- pure decoders -----------------------------------------------------------------


@given(st.binary(max_size=200))
def test_auth_frame_parser_never_raises(frame: bytes) -> None:
    result = parse_auth_frame(bytes([MessageType.AUTH]) + frame)
    assert result is None or isinstance(result, str)
    assert parse_auth_frame(frame) is None or frame[:1] == bytes([MessageType.AUTH])


def _bad_str(raw: bytes) -> bytes:
    """A msgpack str whose bytes are not UTF-8."""
    return bytes([0xD9, len(raw)]) + raw


@given(st.binary(max_size=100))
def test_app_decoder_raises_only_protocol_errors(body: bytes) -> None:
    try:
        data = decode_app(body)
    except ProtocolError:
        return
    assert isinstance(data["type"], str)


@given(st.binary(min_size=1, max_size=30).filter(lambda b: not _is_utf8(b)), st.integers(0, 2))
def test_non_utf8_in_any_app_field_is_a_protocol_error(raw: bytes, where: int) -> None:
    fields = [
        b"\x81" + _bad_str(b"type") + _bad_str(raw),  # {"type": <bad>}
        b"\x82\xa4type\xa5hello" + _bad_str(raw) + b"\x01",  # a bad key
        b"\x82\xa4type\xa5hello\xa4text" + _bad_str(raw),  # a bad value
    ]
    with pytest.raises(ProtocolError):
        decode_app(fields[where])


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode()
        return True
    except UnicodeDecodeError:
        return False


# -- the endpoint --------------------------------------------------------------------

_SERVER: dict[str, Any] = {}


@pytest.fixture
async def fuzz_server(tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    settings_ = auth_settings(tmp_path, auth_timeout_seconds=0.3, max_message_bytes=64 * 1024)
    async with running_server(settings_) as srv:
        await add_user(srv.hub, "own")
        await add_user(srv.hub, "view")
        async with httpx.AsyncClient(base_url=srv.http) as http:
            own = (await login(http, "own"))["token"]
            view = (await login(http, "view"))["token"]
            await http.post("/api/documents", json={"id": "fuzz"}, headers=bearer(own))
            await http.put(
                "/api/documents/fuzz/members/view", json={"role": "viewer"}, headers=bearer(own)
            )
        async with DraftroomClient(srv.ws("fuzz") + f"?token={own}") as probe:
            await probe.wait_saved(probe.insert("seed"))
            _SERVER.update(server=srv, own=own, view=view)
            yield _SERVER
        _SERVER.clear()


async def _drain(ws: websockets.ClientConnection) -> int | None:
    try:
        async with asyncio.timeout(5):
            async for _ in ws:
                pass
    except websockets.ConnectionClosed:
        pass
    except TimeoutError:
        await ws.close()
    return ws.close_code


async def _check_unchanged(srv: RunningServer, own: str, seq: int) -> None:
    """The store did not move, and the room still serves and saves the owner's edits."""
    await srv.hub.store.flush()
    assert (await srv.hub.store.load("fuzz")).seq == seq
    async with httpx.AsyncClient(base_url=srv.http) as http:
        assert (await http.get("/healthz")).status_code == 200
    async with DraftroomClient(srv.ws("fuzz") + f"?token={own}") as probe:
        await probe.wait_saved(probe.insert("."))
        state = await srv.hub.store.load("fuzz")
        stored = str(build_doc(state.snapshot, state.updates).get("text", type=Text))
        assert stored == str(probe.text) and stored.startswith("seed")


@FUZZ
@given(
    doc=st.binary(max_size=40),
    token=st.binary(max_size=80),
    cookie=st.text(
        st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f;"),
        max_size=60,
    ),
    first=st.binary(max_size=60),
    use_auth_frame=st.booleans(),
)
async def test_fuzzed_handshakes_never_get_in(
    fuzz_server: dict[str, Any],
    doc: bytes,
    token: bytes,
    cookie: str,
    first: bytes,
    use_auth_frame: bool,
) -> None:
    srv: RunningServer = fuzz_server["server"]
    seq = (await srv.hub.store.load("fuzz")).seq
    path = quote(doc, safe="") or "fuzz"
    query = f"?token={quote(token, safe='')}" if token else ""
    headers = {"Cookie": f"draftroom_session={cookie}"} if cookie else {}
    try:
        ws = await websockets.connect(
            f"ws://127.0.0.1:{srv.port}/ws/{path}{query}", additional_headers=headers
        )
    except websockets.InvalidStatus:
        pass  # refused before upgrade (e.g. an unroutable path): fine
    except websockets.exceptions.InvalidHeaderValue:
        assume(False)  # the client library will not send this header at all
    else:
        frame = first
        if use_auth_frame:
            frame = bytes([MessageType.AUTH]) + write_varuint(1) + write_varuint(len(first) * 7)
            frame += first  # absurd or truncated lengths, random bytes, non-UTF-8
        try:
            await ws.send(frame)
        except websockets.ConnectionClosed:
            pass
        code = await _drain(ws)
        # Random credentials never authenticate.
        assert code in {4400, 4401, 4403}, code
    await _check_unchanged(srv, fuzz_server["own"], seq)


# Extra fields of an app message. Integers stay in msgpack's range: a bigger one cannot be
# packed, so it would fail in the test itself rather than say anything about the server.
APP_FIELDS = st.dictionaries(
    st.text(max_size=8),
    st.one_of(
        st.binary(max_size=20),
        st.text(max_size=20),
        st.integers(min_value=-(2**63), max_value=2**64 - 1),
        st.none(),
    ),
    max_size=4,
)


def _packable(app: dict[str, Any]) -> bool:
    try:
        msgpack.packb({"type": "x", **app}, use_bin_type=True)
        return True
    except (OverflowError, ValueError, TypeError):
        return False


def test_app_field_strategy_makes_only_packable_messages() -> None:
    with pytest.raises(NoSuchExample):
        find(
            APP_FIELDS,
            lambda app: not _packable(app),
            settings=settings(max_examples=1000, derandomize=True, database=None),
        )


@FUZZ
@given(kind=st.sampled_from([0, 1, 2, 3, 100]), payload=st.binary(max_size=80), app=APP_FIELDS)
async def test_fuzzed_frames_from_a_viewer_change_nothing(
    fuzz_server: dict[str, Any], kind: int, payload: bytes, app: dict[str, Any]
) -> None:
    srv: RunningServer = fuzz_server["server"]
    seq = (await srv.hub.store.load("fuzz")).seq
    if kind == 100 and app:
        frame = bytes([100]) + msgpack.packb({"type": "x", **app}, use_bin_type=True)
    else:
        frame = bytes([kind]) + payload
    # closed on every outcome: a socket left open by a failing example would count
    # against the viewer's connection cap in every example after it
    async with websockets.connect(
        srv.ws("fuzz") + f"?token={fuzz_server['view']}&draftroom=1"
    ) as ws:
        await ws.recv()  # sync step 1: admitted
        with contextlib.suppress(websockets.ConnectionClosed):
            # A valid sync update from a viewer is refused in-band; garbage closes the socket.
            await ws.send(frame)
    await _check_unchanged(srv, fuzz_server["own"], seq)
