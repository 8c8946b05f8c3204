"""Logs: one JSON event per line, trace ids, and never document text or secrets."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import httpx
import websockets
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from draftroom.client import DraftroomClient
from draftroom.telemetry.logs import JsonFormatter, RedactingFilter

DB_PASSWORD = "pg-Secret-7731"
REDIS_PASSWORD = "redis-Secret-4410"
BEARER = "tok-Secret-9123"
LOGIN_PASSWORD = "login-Secret-5566"
DOC_TEXT = "Xylophonic-Manuscript-Passage"


def _capture() -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("draftroom.test.logs")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger, stream


def test_guard_scrubs_secrets_and_adds_trace_ids(spans: InMemorySpanExporter) -> None:
    logger, stream = _capture()
    with trace.get_tracer("test").start_as_current_span("outer") as span:
        logger.info("connect to %s", f"postgresql://app:{DB_PASSWORD}@db:5432/x")
        logger.warning("header Authorization: Bearer %s", BEARER)
        logger.error("login password=%s api_key: %s", LOGIN_PASSWORD, BEARER)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == 3
    text = stream.getvalue()
    for secret in (DB_PASSWORD, BEARER, LOGIN_PASSWORD):
        assert secret not in text
    assert "postgresql://app:***@db:5432/x" in lines[0]["msg"]
    ctx = span.get_span_context()
    assert {line["trace_id"] for line in lines} == {format(ctx.trace_id, "032x")}
    assert {line["span_id"] for line in lines} == {format(ctx.span_id, "016x")}


async def test_server_logs_hold_no_text_or_secrets(
    draftroom_process: Any, postgres_url: str, redis_server: Any
) -> None:
    db_url = postgres_url.replace("postgres@", f"postgres:{DB_PASSWORD}@", 1)  # trust auth
    redis_url = redis_server.url.replace("redis://", f"redis://:{REDIS_PASSWORD}@", 1)
    node = draftroom_process(
        "--database-url", db_url, "--redis-url", redis_url, "--log-level", "debug",
        "--log-format", "json",
    )  # fmt: skip
    async with DraftroomClient(node.ws_url("secret-novel")) as client:
        n = client.insert(DOC_TEXT)
        await client.wait_saved(n)
    # Credentials in a WebSocket handshake (uvicorn dumps headers at debug level).
    creds = {"Authorization": f"Bearer {BEARER}", "Cookie": f"draftroom_session={BEARER}"}
    async with websockets.connect(node.ws_url("secret-novel"), additional_headers=creds):
        pass
    async with httpx.AsyncClient(base_url=node.http_url) as http:
        await http.get("/api/documents", headers={"authorization": f"Bearer {BEARER}"})
        await http.post("/api/sessions", json={"user": "nobody", "password": LOGIN_PASSWORD})
        await http.get("/api/documents/secret-novel/content")
    node.terminate()
    # The test harness stamps each start's command line into the file: not server output.
    stderr = "\n".join(
        line for line in node.stderr_path.read_text().splitlines() if not line.startswith("-----")
    )
    events = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    assert len(events) >= 3  # the server did log (startup, Redis refusing AUTH, ...)
    assert {"ts", "level", "logger", "msg"} <= set(events[0])
    # Frame dumps show bytes as hex: look for the text that way too.
    hex_text = [" ".join(f"{b:02x}" for b in part.encode()) for part in ("Xyloph", "Passage")]
    for needle in (DOC_TEXT, DB_PASSWORD, REDIS_PASSWORD, BEARER, LOGIN_PASSWORD, *hex_text):
        assert needle not in stderr, needle
