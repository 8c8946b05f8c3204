"""HTTP API: health, readiness, and document metadata and content."""

from __future__ import annotations

import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from draftroom.auth.permissions import authorize
from draftroom.crdt.content import document_text
from draftroom.server.body import json_object
from draftroom.server.errors import ApiError
from draftroom.server.hub import Hub
from draftroom.store.base import StoreError, valid_doc_id
from draftroom.store.compaction import build_doc

MAX_TITLE = 500
MAX_PAGE = 500


def _hub(request: Request) -> Hub:
    return request.app.state.hub


def _title(body: dict[str, Any], default: str | None) -> str:
    title = body.get("title", default)
    if not isinstance(title, str) or len(title) > MAX_TITLE:
        raise ApiError(422, "invalid_title", f"title must be a string of at most {MAX_TITLE} chars")
    return title


def _doc_id(request: Request) -> str:
    doc_id = request.path_params["doc_id"]
    if not valid_doc_id(doc_id):
        raise ApiError(404, "not_found", "no such document")
    return doc_id


def _int_param(request: Request, name: str, default: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(422, "invalid", f"{name} must be an integer") from None
    if not 0 <= value <= high:
        raise ApiError(422, "invalid", f"{name} must be between 0 and {high}")
    return value


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    hub = _hub(request)
    if hub.draining:
        return JSONResponse({"status": "draining", "checks": {}}, status_code=503)
    # Checked first: a stalled SQLite writer would also hold up the ping.
    commits_ok, commits = hub.store.committer.status(hub.settings.commit_stall_seconds)
    if not commits_ok:
        return JSONResponse(
            {"status": "unavailable", "checks": {"store": commits, **hub.status()}},
            status_code=503,
        )
    try:
        await hub.store.ping()
    except StoreError as exc:
        return JSONResponse(
            {"status": "unavailable", "checks": {"store": str(exc), **hub.status()}},
            status_code=503,
        )
    # A node whose bus is down still serves its own clients and saves their edits:
    # ready, but degraded, so a load balancer keeps it in rotation.
    checks = {"store": "ok", **hub.status()}
    status = "ready" if all(v == "ok" for v in checks.values()) else "degraded"
    return JSONResponse({"status": status, "checks": checks})


async def list_documents(request: Request) -> Response:
    limit = _int_param(request, "limit", 100, MAX_PAGE)
    offset = _int_param(request, "offset", 0, 10**9)
    principal = await request.app.state.auth.require(request)
    store = _hub(request).store
    if principal.is_admin:
        docs = await store.list_documents(limit, offset)
    else:  # only documents the caller holds a role on
        ids = await request.app.state.auth.members.documents_of(principal.user_id, limit, offset)
        found = [await store.get_document(doc_id) for doc_id in ids]
        docs = [d for d in found if d is not None]
    return JSONResponse(
        {"documents": [d.to_json() for d in docs], "limit": limit, "offset": offset}
    )


async def create_document(request: Request) -> Response:
    auth = request.app.state.auth
    principal = await auth.require(request)
    if "write" not in principal.scopes:
        raise ApiError(403, "forbidden", "creating documents needs the write scope")
    body = await json_object(request)
    doc_id = body.get("id") or uuid.uuid4().hex
    if not isinstance(doc_id, str) or not valid_doc_id(doc_id):
        raise ApiError(422, "invalid_id", "id must match [A-Za-z0-9][A-Za-z0-9._~:@/-]{0,199}")
    meta = await _hub(request).store.create_document(doc_id, _title(body, ""))
    if meta is None:
        raise ApiError(409, "exists", f"document {doc_id!r} already exists")
    if not principal.anonymous:
        await auth.members.grant(doc_id, principal.user_id, "owner")  # creator owns it
    return JSONResponse(meta.to_json(), status_code=201)


async def get_document(request: Request) -> Response:
    await authorize(request, _doc_id(request), "read")
    meta = await _hub(request).store.get_document(_doc_id(request))
    if meta is None:
        raise ApiError(404, "not_found", "no such document")
    return JSONResponse(meta.to_json())


async def update_document(request: Request) -> Response:
    doc_id = _doc_id(request)
    await authorize(request, doc_id, "edit")
    body = await json_object(request)
    unknown = set(body) - {"title"}
    if unknown:
        raise ApiError(422, "invalid", f"unknown fields: {', '.join(sorted(unknown))}")
    meta = await _hub(request).store.update_document(doc_id, _title(body, None))
    if meta is None:
        raise ApiError(404, "not_found", "no such document")
    return JSONResponse(meta.to_json())


async def delete_document(request: Request) -> Response:
    hub = _hub(request)
    doc_id = _doc_id(request)
    await authorize(request, doc_id, "delete")
    if await hub.store.get_document(doc_id) is None:
        raise ApiError(404, "not_found", "no such document")
    # Close live editors first and let their queued saves land, so nothing
    # re-creates the document right after it is deleted.
    hub.rooms.close_room(doc_id, 4404, "document deleted")
    await hub.store.flush()
    await hub.store.delete_document(doc_id)
    await request.app.state.auth.members.remove_document(doc_id)
    return Response(status_code=204)


async def document_content(request: Request) -> Response:
    hub = _hub(request)
    doc_id = _doc_id(request)
    await authorize(request, doc_id, "read")
    room = hub.rooms.rooms.get(doc_id)
    if room is not None and not room.closed:
        return JSONResponse({"id": doc_id, "version": room.version, **document_text(room.doc)})
    meta = await hub.store.get_document(doc_id)
    if meta is None:
        raise ApiError(404, "not_found", "no such document")
    state = await hub.store.load(doc_id)
    doc = build_doc(state.snapshot, state.updates)
    return JSONResponse({"id": doc_id, "version": state.seq, **document_text(doc)})


routes = [
    Route("/healthz", healthz),
    Route("/readyz", readyz),
    Route("/api/documents", list_documents, methods=["GET"]),
    Route("/api/documents", create_document, methods=["POST"]),
    Route("/api/documents/{doc_id:path}/content", document_content, methods=["GET"]),
    Route("/api/documents/{doc_id:path}", get_document, methods=["GET"]),
    Route("/api/documents/{doc_id:path}", update_document, methods=["PATCH"]),
    Route("/api/documents/{doc_id:path}", delete_document, methods=["DELETE"]),
]
