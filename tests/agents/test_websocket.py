"""Invoking agents over the WebSocket, with accounts on."""

from __future__ import annotations

from pathlib import Path

import httpx
from auth.helpers import add_user, auth_server, login

from devtools.waiting import eventually
from draftroom.client import DraftroomClient
from draftroom.crdt.protocol import encode_app

from .helpers import agent_events


async def test_socket_requester_is_named_as_on_the_http_path(tmp_path: Path) -> None:
    async with auth_server(tmp_path) as server:
        ann = await add_user(server.hub, "ann")
        async with httpx.AsyncClient(base_url=server.http) as http:
            token = (await login(http, "ann"))["token"]
        async with DraftroomClient(f"{server.ws('doc')}?token={token}") as client:
            await client.wait_saved(client.insert("It was a dark and stormy night."))
            invoke = {"type": "agent.invoke", "agent": "readability", "request": "r1"}
            await client.send_raw(encode_app(invoke))
            await eventually(
                lambda: any(m["type"] == "agent.done" for m in agent_events(client.app_log, "r1"))
            )
        start = agent_events(client.app_log, "r1")[0]
        assert start["type"] == "agent.start"
        assert start["requester"] == {"id": ann.id, "name": "ann"}
