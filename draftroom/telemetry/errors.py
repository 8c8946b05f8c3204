"""Errors: unhandled exceptions become span exceptions and are counted by kind."""

from __future__ import annotations

import logging

from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode
from starlette.types import ASGIApp, Receive, Scope, Send

from draftroom.telemetry import metrics


class ErrorMiddleware:
    """Innermost ASGI wrapper: sees an exception before Starlette turns it into a 500."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        except Exception as exc:
            record(exc)
            raise


def record(exc: BaseException) -> None:
    span = trace.get_current_span()
    if span.is_recording():
        span.record_exception(exc)
        span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
    metrics.error(type(exc).__name__)


class ErrorLogCounter(logging.Handler):
    """Counts ERROR records from Draftroom's own loggers (background tasks log
    their failures rather than raise): kind = the exception class, else the logger."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)

    def emit(self, record: logging.LogRecord) -> None:
        if not record.name.startswith("draftroom"):
            return
        if record.exc_info and record.exc_info[0] is not None:
            kind = record.exc_info[0].__name__
        else:
            kind = "log." + record.name.removeprefix("draftroom.")
        metrics.error(kind)
