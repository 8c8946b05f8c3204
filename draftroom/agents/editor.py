"""Applying an agent's reply to the document as an edit by a server-side peer.

The agent joins the room like a client: a fresh Yjs client id (two nodes editing as
one client id would corrupt the document, so it is never reused), visible presence
("Continue agent is writing…") while it works, and its edit goes through the normal
edit path (``Room.edit``): validated, group-committed, acknowledged, fanned out to
this node's clients and, after commit, to other nodes. Each applied edit is recorded
in ``agent_edits`` with its client id, sequence number, agent and requester.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from dataclasses import dataclass

from pycrdt import Doc, Text, XmlElement, XmlText

from draftroom.agents.base import AgentError, Requester, Selection
from draftroom.agents.rich_edit import replace_selection
from draftroom.crdt.awareness import encode_update
from draftroom.crdt.protocol import SyncMessage, SyncType, encode_awareness, encode_sync
from draftroom.crdt.room import Room
from draftroom.crdt.rooms import Rooms
from draftroom.document.schema import PLAIN_TEXT_NAME, rich_fragment
from draftroom.document.text import read_text
from draftroom.errors import Rejected
from draftroom.store.base import SQL


class AgentPeer:
    """A Peer (see crdt/room.py) with no socket: frames to it are dropped, acks kept."""

    def __init__(self, agent: str, requester: Requester) -> None:
        self.app_messages = True  # so the room acknowledges our edit with its version
        self.awareness_ids: set[int] = set()
        self.updates_received = 0
        # The requester's user id: edits and presence are attributed to the agent
        # acting for them; never read-only (permission was checked on invocation).
        self.user: str | None = requester.id
        self.username: str | None = requester.name
        self.read_only = False
        self.role: str | None = None
        self.client_id = random.getrandbits(32)
        self.agent = agent
        self.requester = requester
        self.saved: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._clock = 0

    def send(self, frame: bytes) -> None:
        pass

    def ack(self, upto: int, version: int) -> None:
        if not self.saved.done():
            self.saved.set_result(version)

    def close(self, code: int, reason: str) -> None:
        if not self.saved.done():
            self.saved.set_exception(
                AgentError(f"room closed: {reason}", code="edit_failed", status=503)
            )

    def presence(self, room: Room, status: str | None) -> None:
        """Show (or with None, clear) this agent in the document's presence."""
        self._clock += 1
        if status is None:
            state = b"null"
        else:
            label = f"{self.agent.capitalize()} agent"
            state = json.dumps(
                {
                    "user": {"name": label, "agent": True, "color": "#7c3aed"},
                    "status": status,
                    "requester": self.requester.name,
                }
            ).encode()
        update = encode_update([(self.client_id, self._clock, state)])
        room.receive(self, encode_awareness(update))


@dataclass(frozen=True, slots=True)
class AppliedEdit:
    client_id: int
    version: int

    def to_json(self) -> dict[str, int]:
        return {"client_id": self.client_id, "version": self.version}


class Editor:
    def __init__(self, rooms: Rooms, sql: SQL) -> None:
        self.rooms = rooms
        self.sql = sql

    async def begin(self, doc_id: str, agent: str, requester: Requester) -> tuple[Room, AgentPeer]:
        peer = AgentPeer(agent, requester)
        room = await self.rooms.join(doc_id, peer)
        peer.presence(room, f"{agent.capitalize()} agent is writing…")
        return room, peer

    def end(self, room: Room, peer: AgentPeer) -> None:
        if not room.closed:
            peer.presence(room, None)
        self.rooms.leave(room, peer)

    async def apply(
        self,
        room: Room,
        peer: AgentPeer,
        text: str,
        selection: Selection | None,
        request_id: str,
        original: str | None = None,
    ) -> AppliedEdit:
        """Write ``text`` at the end, or over ``selection`` (whose text was ``original``
        when the agent was asked: if writers changed the document meanwhile, the
        selected words are looked for again, and never overwritten blindly)."""
        await room.room_to_edit()  # a full commit queue holds agents back like writers
        if room.closed:
            raise AgentError("the document was closed", code="edit_failed", status=503)
        update = _edit(room.doc, peer.client_id, text, selection, original)
        if update is None:
            raise AgentError(
                "this selection cannot be rewritten in place: select text within one "
                "paragraph, without images or other inline nodes",
                code="edit_unsupported",
            )
        frame = encode_sync(SyncType.UPDATE, update)
        try:
            room.edit(peer, frame, SyncMessage(SyncType.UPDATE, update))
        except Rejected as exc:
            raise AgentError(exc.message, code="edit_rejected", status=409) from None
        version = await peer.saved
        await self.sql.execute(
            "INSERT INTO agent_edits (at, doc_id, seq, client_id, agent, user_id, request_id) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7)",
            time.time(),
            room.doc_id,
            version,
            peer.client_id,
            peer.agent,
            peer.requester.id,
            request_id,
        )
        return AppliedEdit(peer.client_id, version)


def _edit(
    doc: Doc, client_id: int, text: str, selection: Selection | None, original: str | None
) -> bytes | None:
    """The update that writes ``text`` as client ``client_id``: at the end of the
    document, or in place of the selection. One transaction, one update; None when a
    rich-text selection cannot be mapped back exactly (see rich_edit.py).

    pycrdt cannot switch a Doc's client id, so the edit is made on a copy created
    with the agent's id; its update then goes through the room like a client's.
    """
    copy: Doc = Doc(client_id=client_id)
    copy.apply_update(doc.get_update())
    before = copy.get_state()
    fragment = rich_fragment(copy)
    document = read_text(copy) if fragment is not None and selection is not None else None
    with copy.transaction():
        if fragment is not None:
            if selection is not None:
                assert document is not None
                start, end = _locate(document.text, selection, original)
                if not replace_selection(fragment, document, start, end, text):
                    return None
                return copy.get_update(before)
            for paragraph in (p.strip() for p in text.split("\n")):
                if paragraph:
                    fragment.children.append(XmlElement("paragraph", {}, [XmlText(paragraph)]))
        else:
            body = copy.get(PLAIN_TEXT_NAME, type=Text)
            current = str(body)
            # pycrdt Text offsets count UTF-8 bytes, not characters.
            if selection is None:
                joiner = "\n" if current and not current.endswith("\n") else ""
                body.insert(len(current.encode()), joiner + text.strip())
            else:
                first, last = _locate(current, selection, original)
                start = len(current[:first].encode())
                end = len(current[:last].encode())
                if end > start:
                    del body[start:end]
                body.insert(start, text.strip())
    return copy.get_update(before)


def _locate(text: str, selection: Selection, original: str | None) -> tuple[int, int]:
    """Where the selected words are now."""
    if not original or text[selection.start : selection.end] == original:
        if selection.end > len(text):
            raise AgentError(CONFLICT, code="edit_conflict", status=409)
        return selection.start, selection.end
    at = text.find(original)
    if at >= 0 and text.find(original, at + 1) < 0:
        return at, at + len(original)
    raise AgentError(CONFLICT, code="edit_conflict", status=409)


CONFLICT = "the selected text changed while the agent was writing; the rewrite was not applied"
