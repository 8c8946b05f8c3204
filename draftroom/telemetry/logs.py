"""Structured logs: one JSON object per line on stderr, with trace and span ids.

A redaction guard scrubs secrets that slip into messages (passwords in URLs,
bearer tokens, ``password=`` / ``token=`` pairs, credential headers) and the
WebSocket frame dumps uvicorn writes at debug level (they hold document bytes).
Otherwise document text is kept out by policy: no code path logs update payloads
or content (tests/telemetry/test_logs.py checks a real server's stderr).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time

from opentelemetry import trace

_SECRETS = (
    # WebSocket frame dumps (uvicorn/websockets at debug level) hold document bytes.
    (
        re.compile(r"^(?P<a>[<>] (?:BINARY|TEXT|CONT))\b.*?(?P<b>\[\d+ bytes\])?$", re.S),
        r"\g<a> [payload redacted] \g<b>",
    ),
    # Request/response header dumps: credentials and session cookies.
    (
        re.compile(
            r"(?im)^(?P<a>[<>] (?:authorization|cookie|set-cookie|sec-websocket-protocol)):.*$"
        ),
        r"\g<a>: ***",
    ),
    # scheme://user:password@host -> scheme://user:***@host
    (re.compile(r"(?P<a>[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)[^@\s]+(?P<b>@)"), r"\g<a>***\g<b>"),
    (re.compile(r"(?i)(?P<a>bearer\s+)[A-Za-z0-9._~+/=-]+"), r"\g<a>***"),
    (
        re.compile(
            r"(?i)(?P<a>\b(?:password|passwd|secret|token|api[_-]?key|authorization)"
            r"[\"']?\s*[=:]\s*[\"']?)[^\s\"',&]+"
        ),
        r"\g<a>***",
    ),
)


def redact(text: str) -> str:
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites a record's message with secrets scrubbed (for every handler)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        event = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        ctx = trace.get_current_span().get_span_context()
        if ctx.is_valid:
            event["trace_id"] = format(ctx.trace_id, "032x")
            event["span_id"] = format(ctx.span_id, "016x")
        if record.exc_info:
            event["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(event, ensure_ascii=False)


def setup_logging(level: str, fmt: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's access log is one line per request: too much at WebSocket scale.
    logging.getLogger("uvicorn.access").setLevel("WARNING")
    # uvicorn logs every WebSocket open and close at info; keep its warnings only.
    if root.level > logging.DEBUG:
        logging.getLogger("uvicorn.error").setLevel("WARNING")
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
