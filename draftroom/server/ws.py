"""The WebSocket endpoint: ``/ws/{doc_id}``, speaking the y-websocket protocol.

Close codes are listed in docs/PROTOCOL.md.
"""

from __future__ import annotations

import asyncio
import logging

from starlette.websockets import WebSocket

from draftroom.auth.ws_guard import Throttle, admit
from draftroom.crdt.protocol import CloseCode, encode_app
from draftroom.crdt.room import Room
from draftroom.errors import DraftroomError, RateLimited, Rejected
from draftroom.server.connection import Connection
from draftroom.server.hub import Hub
from draftroom.server.params import doc_id_problem
from draftroom.telemetry import tracing
from draftroom.telemetry.sessions import Session

log = logging.getLogger(__name__)


async def websocket_endpoint(websocket: WebSocket) -> None:
    hub: Hub = websocket.app.state.hub
    doc_id = websocket.path_params["doc_id"]
    await websocket.accept()
    if hub.draining:
        await websocket.close(CloseCode.RESTARTING, "server is restarting")
        return
    problem = doc_id_problem(doc_id)
    if problem:
        await websocket.close(CloseCode.INVALID_DOCUMENT_ID, problem)
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
    conn.user, conn.read_only, conn.role, conn.auth = (
        admission.principal.user_id,
        admission.read_only,
        admission.role,
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
            conn.close(CloseCode.UNAVAILABLE, "document could not be loaded; try again")
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
        try:
            await asyncio.gather(writer, return_exceptions=True)
        finally:
            # The slot under the user's connection cap must come back even when a second
            # cancellation (a shutdown) lands during this cleanup: a lease left behind is
            # renewed forever and locks the user out. Shielded, the release always finishes.
            await asyncio.shield(admission.release(websocket.app.state.auth))


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
            _reject(conn, Rejected("binary frames only", close_code=CloseCode.UNSUPPORTED_MESSAGE))
            return
        if len(frame) > max_bytes:
            too_large = f"message of {len(frame)} bytes exceeds {max_bytes}"
            _reject(conn, Rejected(too_large, close_code=CloseCode.MESSAGE_TOO_LARGE))
            return
        # A flooding user's reads pause here (only theirs); sustained flooding closes.
        if not await throttle.admit(len(frame)):
            _reject(conn, RateLimited("rate limit exceeded: too many messages"))
            return
        if conn.closed:  # revoked while throttled
            return
        try:
            room.receive(conn, frame)
        except Rejected as exc:
            _reject(conn, exc)
            return


def _reject(conn: Connection, exc: DraftroomError) -> None:
    """The one way an error ends a socket: an app ``error`` (opted-in clients), then
    the close. An error with no close code of its own is the server's: 1011."""
    close_code = exc.close_code or CloseCode.UNAVAILABLE
    if conn.app_messages:
        conn.send(
            encode_app(
                {
                    "type": "error",
                    "code": exc.code,
                    "close_code": int(close_code),
                    "message": exc.message,
                }
            )
        )
    conn.close(close_code, exc.message)
