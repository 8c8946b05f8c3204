"""Invoking an agent from a WebSocket client: the ``agent.invoke`` app message.

    {"type": "agent.invoke", "agent": "style", "request": "<client id, optional>",
     "params": {...}, "selection": {"start": 0, "end": 120}, "apply": false}

The reply reaches the sender like every other collaborator (agent.start, agent.chunk,
agent.done / agent.error). A request refused before it starts (unknown agent, bad
params, budget spent) is answered to the sender alone with ``agent.error``.
"""

from __future__ import annotations

from typing import Any

from draftroom.agents.base import ANONYMOUS, AgentError, Requester, Selection
from draftroom.agents.service import MAX_REQUEST_ID, AgentService, Invocation
from draftroom.crdt.protocol import encode_app
from draftroom.crdt.room import Peer, Room


def requester_of(user: Any) -> Requester:
    """The identity auth attached to a connection (``Connection.user``, a user id)."""
    if user is None:
        return ANONYMOUS
    if isinstance(user, dict):
        uid = user.get("id") or user.get("user_id") or user.get("name")
        name = user.get("name") or user.get("display_name") or uid
    else:
        uid = getattr(user, "id", None) or getattr(user, "user_id", None) or str(user)
        name = getattr(user, "name", None) or getattr(user, "display_name", None) or uid
    return Requester(str(uid), str(name))


def parse_selection(raw: Any) -> Selection | None:
    if raw is None:
        return None
    if (
        not isinstance(raw, dict)
        or not isinstance(raw.get("start"), int)
        or not isinstance(raw.get("end"), int)
        or isinstance(raw.get("start"), bool)
    ):
        raise AgentError("invalid_selection", "selection must be {start: int, end: int}")
    return Selection(raw["start"], raw["end"])


def install(service: AgentService) -> None:
    def on_invoke(room: Room, peer: Peer, data: dict[str, Any]) -> None:
        service.spawn(_invoke(service, room, peer, data))

    service.hub.rooms.app_handlers["agent.invoke"] = on_invoke


async def _invoke(service: AgentService, room: Room, peer: Peer, data: dict[str, Any]) -> None:
    request = data.get("request")
    try:
        inv = Invocation(
            doc_id=room.doc_id,
            agent=str(data.get("agent", "")),
            requester=requester_of(getattr(peer, "user", None)),
            params=data.get("params"),
            selection=parse_selection(data.get("selection")),
            apply=data.get("apply") is True,
        )
        if isinstance(request, str) and 0 < len(request) <= MAX_REQUEST_ID:
            inv.request_id = request
        if inv.apply and getattr(peer, "read_only", False):
            raise AgentError("forbidden", "your role cannot edit this document", 403)
        prepared = await service.prepare(inv)
    except AgentError as exc:
        peer.send(
            encode_app(
                {
                    "type": "agent.error",
                    "request": request if isinstance(request, str) else None,
                    "agent": data.get("agent"),
                    "code": exc.code,
                    "message": exc.message,
                }
            )
        )
        return
    async for _ in service.stream(prepared):
        pass  # every event is broadcast, the sender included
