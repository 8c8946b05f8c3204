"""The WebSocket endpoint: ``/ws/{doc_id}``, speaking the y-websocket protocol.

Close codes are listed in docs/PROTOCOL.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from starlette.websockets import WebSocket

from draftroom.auth.ws_guard import Throttle, admit
from draftroom.crdt.protocol import CLOSE_NAMES, encode_app
from draftroom.crdt.room import Rejected, Room
from draftroom.server.connection import Connection
from draftroom.server.hub import Hub
from draftroom.store.base import valid_doc_id
from draftroom.store.group_commit import GroupCommitter
from draftroom.telemetry import tracing
from draftroom.telemetry.sessions import Session

log = logging.getLogger(__name__)

CLOSE_BAD_DOC_ID = 4400
CLOSE_RESTARTING = 1012
CLOSE_UNAVAILABLE = 1011


async def websocket_endpoint(websocket: WebSocket) -> None:
    hub: Hub = websocket.app.state.hub
    doc_id = websocket.path_params["doc_id"]
    await websocket.accept()
    if hub.draining:
        await websocket.close(CLOSE_RESTARTING, "server is restarting")
        return
    if not valid_doc_id(doc_id):
        await websocket.close(CLOSE_BAD_DOC_ID, "invalid document id")
        return
    with tracing.span("draftroom.ws.auth", **{"draftroom.doc": doc_id}):
        admission = await admit(websocket, hub, doc_id)  # closes with 4401/4403/4429 itself
    if admission is None:
        return
    conn = Connection(
        websocket,
        max_queue_bytes=hub.settings.send_queue_bytes,
        app_messages=websocket.query_params.get("draftroom") == "1",
    )
    conn.user, conn.read_only, conn.auth = (
        admission.principal.user_id,
        admission.read_only,
        admission,
    )
    writer = asyncio.get_running_loop().create_task(conn.run_writer())
    reader = asyncio.current_task()
    assert reader is not None
    conn.attach(reader, writer)
    hub.connections.add(conn)
    try:
        try:
            with tracing.span("draftroom.ws.initial_sync", **{"draftroom.doc": doc_id}):
                room = await hub.rooms.join(doc_id, conn)
        except Exception as exc:
            log.error("could not load document %s: %s", doc_id, exc)
            conn.close(CLOSE_UNAVAILABLE, "document could not be loaded; try again")
            return
        session = Session(hub, websocket.scope, doc_id, room)
        try:
            await _read_loop(
                websocket, conn, room, hub.settings.max_message_bytes, admission.throttle
            )
        except asyncio.CancelledError:
            if not conn.abandoned:
                raise
            reader.uncancel()  # we cancelled ourselves to drop a client that stopped reading
        finally:
            session.end(conn)
            hub.rooms.leave(room, conn)
    finally:
        hub.connections.discard(conn)
        conn.stop()  # always wake the writer: it sends any pending close frame, then ends
        await asyncio.gather(writer, return_exceptions=True)
        await admission.release(websocket.app.state.auth)


async def _read_loop(
    websocket: WebSocket, conn: Connection, room: Room, max_bytes: int, throttle: Throttle
) -> None:
    receive = websocket.receive
    while not conn.closed:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            conn.stop()
            return
        frame = message.get("bytes")
        if frame is None:
            _reject(conn, Rejected(1003, "binary frames only"))
            return
        if len(frame) > max_bytes:
            _reject(conn, Rejected(1009, f"message of {len(frame)} bytes exceeds {max_bytes}"))
            return
        # A flooding user's reads pause here (only theirs); sustained flooding closes.
        if not await throttle.admit(len(frame)):
            _reject(conn, Rejected(4429, "rate limit exceeded: too many messages"))
            return
        if conn.closed:  # revoked while throttled
            return
        if room.store.committer.congested:
            await _wait_for_saves(conn, room.store.committer)
            if conn.closed:
                return
        try:
            room.receive(conn, frame)
        except Rejected as exc:
            _reject(conn, exc)
            return


async def _wait_for_saves(conn: Connection, committer: GroupCommitter) -> None:
    """The store is behind: stop reading this client until the commit queue has
    room. Its frames wait in its socket and its Yjs state meanwhile, so nothing is
    lost and nothing is acknowledged early; an opted-in client is told why."""
    if conn.app_messages:
        conn.send(
            encode_app(
                {
                    "type": "error",
                    "code": "saving_slow",
                    "message": "saving is slow; your edits are kept and sent when it catches up",
                }
            )
        )
    while committer.congested and not conn.closed:
        # Wakes now and then to notice a connection closed meanwhile (drain, kick).
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(committer.wait_for_room(), 0.5)


def _reject(conn: Connection, exc: Rejected) -> None:
    if conn.app_messages:
        conn.send(
            encode_app(
                {
                    "type": "error",
                    "code": CLOSE_NAMES.get(exc.code, "closed"),
                    "close_code": exc.code,
                    "message": exc.reason,
                }
            )
        )
    conn.close(exc.code, exc.reason)
