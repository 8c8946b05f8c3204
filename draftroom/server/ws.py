"""The WebSocket endpoint: ``/ws/{doc_id}``, speaking the y-websocket protocol.

Close codes are listed in docs/PROTOCOL.md.
"""

from __future__ import annotations

import asyncio
import logging

from starlette.websockets import WebSocket

from draftroom.crdt.protocol import CLOSE_NAMES, encode_app
from draftroom.crdt.room import Rejected
from draftroom.server.connection import Connection
from draftroom.server.hub import Hub
from draftroom.store.base import valid_doc_id

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
    conn = Connection(
        websocket,
        max_queue_bytes=hub.settings.send_queue_bytes,
        app_messages=websocket.query_params.get("draftroom") == "1",
    )
    writer = asyncio.get_running_loop().create_task(conn.run_writer())
    hub.connections.add(conn)
    try:
        try:
            room = await hub.rooms.join(doc_id, conn)
        except Exception as exc:
            log.error("could not load document %s: %s", doc_id, exc)
            conn.close(CLOSE_UNAVAILABLE, "document could not be loaded; try again")
            return
        try:
            await _read_loop(websocket, conn, room, hub.settings.max_message_bytes)
        finally:
            hub.rooms.leave(room, conn)
    finally:
        hub.connections.discard(conn)
        if not conn.closed:
            conn.stop()
        await writer


async def _read_loop(websocket: WebSocket, conn: Connection, room, max_bytes: int) -> None:  # type: ignore[no-untyped-def]
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
        try:
            room.receive(conn, frame)
        except Rejected as exc:
            _reject(conn, exc)
            return


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
