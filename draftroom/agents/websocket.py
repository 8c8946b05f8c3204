"""Invoking an agent from a WebSocket client: the ``agent.invoke`` app message.

    {"type": "agent.invoke", "agent": "style", "request": "<client id, optional>",
     "params": {...}, "selection": {"start": 0, "end": 120}, "apply": false}
    {"type": "agent.cancel", "request": "<the id of one of this connection's requests>"}

The reply reaches the sender like every other collaborator (agent.start, agent.chunk,
agent.done / agent.error). A request refused before it starts (unknown agent, bad
params, budget spent) is answered to the sender alone with ``agent.error``.

A request belongs to the connection that sent it: ``agent.cancel`` from it, or the
connection closing, stops the request (collaborators see ``agent.error`` with code
``cancelled``). The computation itself stops too unless another request is following
it (single-flight), so a closed tab never leaves an LLM call running and billing.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from typing import Any

from draftroom.agents.base import ANONYMOUS, AgentError, Requester, Selection
from draftroom.agents.service import MAX_REQUEST_ID, AgentService, Invocation
from draftroom.crdt.protocol import encode_app
from draftroom.crdt.room import AppHandler, Peer, Room
from draftroom.features import BaseFeature


def requester_of(peer: Peer) -> Requester:
    """Who asked, as the HTTP path names them: the id the socket was admitted as, and
    the username collaborators see in agent.start and the agent's presence."""
    if peer.user is None:
        return ANONYMOUS
    return Requester(peer.user, peer.username or peer.user)


def parse_selection(raw: Any) -> Selection | None:
    if raw is None:
        return None
    if (
        not isinstance(raw, dict)
        or not isinstance(raw.get("start"), int)
        or not isinstance(raw.get("end"), int)
        or isinstance(raw.get("start"), bool)
    ):
        raise AgentError("selection must be {start: int, end: int}", code="invalid_selection")
    return Selection(raw["start"], raw["end"])


def _request_id(data: dict[str, Any]) -> str | None:
    request = data.get("request")
    return request if isinstance(request, str) and 0 < len(request) <= MAX_REQUEST_ID else None


class SocketRequests(BaseFeature):
    """The agent requests each connection has running (a feature: it handles the
    agent app messages, and cancels a peer's requests when the peer leaves)."""

    def __init__(self, service: AgentService) -> None:
        self.service = service
        self.running: dict[Peer, dict[str, asyncio.Task[None]]] = {}

    def app_handlers(self) -> Mapping[str, AppHandler]:
        return {"agent.invoke": self.on_invoke, "agent.cancel": self.on_cancel}

    def on_peer_leave(self, room: Room, peer: Peer) -> None:
        self.on_leave(room, peer)

    def on_invoke(self, room: Room, peer: Peer, data: dict[str, Any]) -> None:
        request = _request_id(data) or uuid.uuid4().hex
        mine = self.running.setdefault(peer, {})
        if request in mine:
            _refuse(peer, data, "duplicate_request", "a request with this id is running")
            return
        task = self.service.spawn(_invoke(self.service, room, peer, data, request))
        mine[request] = task
        task.add_done_callback(lambda _: self._finished(peer, request, task))

    def on_cancel(self, room: Room, peer: Peer, data: dict[str, Any]) -> None:
        request = _request_id(data)
        task = self.running.get(peer, {}).get(request or "")
        if task is None:
            _refuse(peer, data, "unknown_request", "no running request of yours has this id")
            return
        task.cancel()

    def on_leave(self, room: Room, peer: Peer) -> None:
        for task in self.running.pop(peer, {}).values():
            task.cancel()

    def _finished(self, peer: Peer, request: str, task: asyncio.Task[None]) -> None:
        mine = self.running.get(peer)
        if mine is not None and mine.get(request) is task:
            del mine[request]
            if not mine:
                del self.running[peer]


def _refuse(peer: Peer, data: dict[str, Any], code: str, message: str) -> None:
    peer.send(
        encode_app(
            {
                "type": "agent.error",
                "request": data.get("request") if isinstance(data.get("request"), str) else None,
                "agent": data.get("agent"),
                "code": code,
                "message": message,
            }
        )
    )


async def _invoke(
    service: AgentService, room: Room, peer: Peer, data: dict[str, Any], request: str
) -> None:
    try:
        inv = Invocation(
            doc_id=room.doc_id,
            agent=str(data.get("agent", "")),
            requester=requester_of(peer),
            params=data.get("params"),
            selection=parse_selection(data.get("selection")),
            apply=data.get("apply") is True,
            request_id=request,
        )
        if inv.apply and peer.read_only:
            raise AgentError("your role cannot edit this document", code="forbidden", status=403)
        prepared = await service.prepare(inv)
    except AgentError as exc:
        _refuse(peer, data, exc.code, exc.message)
        return
    async for _ in service.stream(prepared):
        pass  # every event is broadcast, the sender included
