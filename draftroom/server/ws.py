"""The WebSocket endpoint: ``/ws/{doc_id}``, speaking the y-websocket protocol.

Close codes are listed in docs/PROTOCOL.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from starlette.websockets import WebSocket

from draftroom.analytics.editing import EditingSession
from draftroom.analytics.recorder import Analytics
from draftroom.auth.admission import Throttle
from draftroom.crdt.protocol import CloseCode, encode_app
from draftroom.crdt.room import Room
from draftroom.errors import DraftroomError, RateLimited, Rejected
from draftroom.server.connection import Connection
from draftroom.server.params import doc_id_problem
from draftroom.server.services import auth_of, node_of
from draftroom.server.ws_auth import admit, deny
from draftroom.store.group_commit import GroupCommitter
from draftroom.telemetry import tracing

log = logging.getLogger(__name__)


async def websocket_endpoint(websocket: WebSocket) -> None:
    node = node_of(websocket)
    auth = auth_of(websocket)
    doc_id = websocket.path_params["doc_id"]
    await websocket.accept()
    if node.draining:
        await websocket.close(CloseCode.RESTARTING, "server is restarting")
        return
    problem = doc_id_problem(doc_id)
    if problem:
        await websocket.close(CloseCode.INVALID_DOCUMENT_ID, problem)
        return
    try:
        with tracing.span("draftroom.ws.auth", **{"draftroom.doc": doc_id}):
            admission = await admit(websocket, auth, doc_id)
    except DraftroomError as exc:
        await deny(websocket, exc)  # 4401, 4403, 4404 or 4429, from the error
        return
    conn = Connection(
        websocket,
        admission=admission,
        max_queue_bytes=node.settings.send_queue_bytes,
        send_path=node.settings.ws_send,
        app_messages=websocket.query_params.get("draftroom") == "1",
    )
    writer = asyncio.get_running_loop().create_task(conn.run_writer())
    reader = asyncio.current_task()
    assert reader is not None
    conn.attach(reader, writer)
    node.connections.add(conn)
    try:
        try:
            with tracing.span("draftroom.ws.initial_sync", **{"draftroom.doc": doc_id}):
                room = await node.rooms.join(doc_id, conn)
        except Exception as exc:
            log.error("could not load document %s: %s", doc_id, exc)
            conn.close(CloseCode.UNAVAILABLE, "document could not be loaded; try again")
            return
        session = EditingSession(node.optional(Analytics), admission.principal.user_id, room)
        try:
            await _read_loop(
                websocket, conn, room, node.settings.max_message_bytes, admission.throttle
            )
        except asyncio.CancelledError:
            if not conn.abandoned:
                raise
            reader.uncancel()  # we cancelled ourselves to drop a client that stopped reading
        finally:
            session.end(conn)
            node.rooms.leave(room, conn)
    finally:
        node.connections.discard(conn)
        conn.stop()  # always wake the writer: it sends any pending close frame, then ends
        try:
            await asyncio.gather(writer, return_exceptions=True)
        finally:
            # The slot under the user's connection cap must come back even when a second
            # cancellation (a shutdown) lands during this cleanup: a lease left behind is
            # renewed forever and locks the user out. Shielded, the release always finishes.
            await asyncio.shield(admission.release(auth))


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
