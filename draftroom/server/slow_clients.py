"""Deadlines for slow HTTP clients (slowloris), which uvicorn's h11 protocol lacks.

uvicorn times out an idle keep-alive connection, but a connection that sends
half a request line, or headers a byte every few seconds, or a body that never
ends, is held open forever: a few thousand of them exhaust the node's file
descriptors. This protocol adds two deadlines and closes the connection at
either:

* headers: from the connection's (or a keep-alive request's) first byte to the
  end of the headers, ``--header-timeout-seconds``; trickling bytes does not
  extend it.
* body: from the end of the headers to the end of the body,
  ``--body-timeout-seconds``.

A WebSocket upgrade leaves this protocol once its headers are in, so sockets
are not affected.
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol


class DeadlineH11Protocol(H11Protocol):
    header_timeout: float = 10.0
    body_timeout: float = 30.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._phase: str | None = None  # "headers", "body" or None
        self._upgraded = False  # a WebSocket now: no deadline applies any more

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._enter("headers")

    def connection_lost(self, exc: Exception | None) -> None:
        self._enter(None)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._phase is None and self.conn.their_state is h11.IDLE:
            self._enter("headers")  # the first byte of a keep-alive request
        super().data_received(data)
        self._follow()

    def handle_websocket_upgrade(self, event: h11.Request) -> None:
        self._upgraded = True
        self._enter(None)
        super().handle_websocket_upgrade(event)

    def _follow(self) -> None:
        if self._upgraded:
            # h11 still shows the upgrade request in SEND_BODY; following it would arm
            # the body deadline and close the socket --body-timeout-seconds later.
            return
        state = self.conn.their_state
        if state is h11.SEND_BODY:
            if self._phase != "body":
                self._enter("body")
        elif state is not h11.IDLE:
            self._enter(None)  # the request is in; the response is the app's business

    def _enter(self, phase: str | None) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self._phase = phase
        if phase is not None and self.transport is not None and not self.transport.is_closing():
            timeout = self.header_timeout if phase == "headers" else self.body_timeout
            self._deadline = self.loop.call_later(timeout, self._expired)

    def _expired(self) -> None:
        self._deadline = None
        phase, self._phase = self._phase, None
        if self.transport.is_closing():
            return
        self.logger.info("closing a connection from %s: request %s too slow", self.client, phase)
        self.transport.close()


def deadline_protocol(header_timeout: float, body_timeout: float) -> type[DeadlineH11Protocol]:
    """The protocol class for ``uvicorn.Config(http=...)`` with these deadlines."""
    return type(
        "DeadlineH11Protocol",
        (DeadlineH11Protocol,),
        {"header_timeout": header_timeout, "body_timeout": body_timeout},
    )
