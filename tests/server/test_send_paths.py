"""Both ways a frame reaches a socket (``--ws-send``): written at once when the socket
is idle (stepped, the default), or always through the writer task (queued, the
benchmark's other half). Each delivers every update, in order, and the acks."""

from __future__ import annotations

from pathlib import Path

import pytest

from devtools.inprocess import make_settings, running_server
from devtools.waiting import eventually
from draftroom.client import DraftroomClient


@pytest.mark.parametrize("send_path", ["stepped", "queued"])
async def test_every_update_and_ack_arrives_in_order(tmp_path: Path, send_path: str) -> None:
    settings = make_settings(tmp_path, ws_send=send_path)
    async with running_server(settings) as server:
        async with (
            DraftroomClient(server.ws("doc")) as alice,
            DraftroomClient(server.ws("doc")) as bob,
        ):
            last = 0
            for i in range(50):
                last = alice.insert(f"{i} ")
            expected = "".join(f"{i} " for i in range(50))
            await alice.wait_saved(last)
            await eventually(lambda: str(bob.text) == expected)
            assert str(alice.text) == expected
