"""The ASGI edge of admission control (``draftroom.admission``).

It runs before auth and routing, so a refusal costs the node almost nothing: that
is the point of refusing. A refused WebSocket is accepted and then closed with
1013, because a browser never sees the code of a refused handshake (it reports
1006 and no reason); y-websocket reconnects on 1013 with its backoff, through the
load balancer. A refused HTTP request gets 503 + ``Retry-After`` as JSON, like
every other error. Probes and ``/metrics`` always pass: the orchestrator must see
a loaded node as alive, and the autoscaler must read the numbers that say so.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Receive, Scope, Send

from draftroom.admission import AdmissionControl, Work
from draftroom.crdt.protocol import CloseCode, encode_app
from draftroom.errors import Overloaded
from draftroom.server.errors import error_response

_HEALTH = frozenset({"/healthz", "/readyz", "/metrics"})
# Work that can wait: agent calls, exports, analytics queries.
_DEFERRABLE = re.compile(
    r"^/api/(agents|usage|export|admin/analytics)(/|$)|^/api/documents/.+/(agents|export)/[^/]+$"
)


def work_of(path: str) -> Work:
    if path in _HEALTH:
        return Work.HEALTH
    if _DEFERRABLE.match(path):
        return Work.DEFERRABLE
    return Work.EDIT


class AdmissionMiddleware:
    def __init__(self, app: ASGIApp, admission: AdmissionControl) -> None:
        self.app = app
        self.admission = admission

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            try:
                self.admission.admit_socket()
            except Overloaded as exc:
                await _refuse_socket(scope, receive, send, exc)
                return
            try:
                await self.app(scope, receive, send)
            finally:
                self.admission.release_socket()
            return
        if scope["type"] == "http":
            try:
                self.admission.check(work_of(scope["path"]), "http")
            except Overloaded as exc:
                response = error_response(exc.status, exc.code, exc.message, exc.headers)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


async def _refuse_socket(scope: Scope, receive: Receive, send: Send, exc: Overloaded) -> None:
    code = int(exc.close_code or CloseCode.TRY_AGAIN_LATER)
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    if query.get("draftroom") == ["1"]:
        # Opted-in clients get the reason as an app error too, like every other close.
        error = {"type": "error", "code": exc.code, "close_code": code, "message": exc.message}
        await send({"type": "websocket.send", "bytes": encode_app(error)})
    await send({"type": "websocket.close", "code": code, "reason": exc.message})
