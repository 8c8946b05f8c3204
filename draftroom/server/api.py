"""HTTP API: health, readiness, and document metadata and content."""

from __future__ import annotations

import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from draftroom.auth.service import authorize
from draftroom.document.load import load_doc
from draftroom.document.text import content
from draftroom.errors import (
    DocumentDeleted,
    DocumentExists,
    DraftroomError,
    Forbidden,
    Invalid,
    NotFound,
)
from draftroom.search.service import Search
from draftroom.server.body import json_object
from draftroom.server.params import (
    DOC_ID_RULE,
    choice_param,
    doc_id_problem,
    int_param,
    known_params,
)
from draftroom.server.services import auth_of, node_of
from draftroom.store.base import DOCUMENT_SORTS, StoreError

MAX_TITLE = 500
MAX_PAGE = 500


def _title(body: dict[str, Any], default: str | None) -> str:
    title = body.get("title", default)
    if not isinstance(title, str) or len(title) > MAX_TITLE:
        raise Invalid(f"title must be a string of at most {MAX_TITLE} chars", code="invalid_title")
    return title


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    node = node_of(request)
    if node.draining:
        return JSONResponse({"status": "draining", "checks": {}}, status_code=503)
    # Checked first: a stalled SQLite writer would also hold up the ping.
    commits_ok, commits = node.store.committer.status(node.settings.commit_stall_seconds)
    if not commits_ok:
        return JSONResponse(
            {"status": "unavailable", "checks": {"store": commits, **node.status()}},
            status_code=503,
        )
    try:
        await node.store.ping()
    except StoreError as exc:
        return JSONResponse(
            {"status": "unavailable", "checks": {"store": str(exc), **node.status()}},
            status_code=503,
        )
    # A node whose bus is down still serves its own clients and saves their edits:
    # ready, but degraded, so a load balancer keeps it in rotation.
    checks = {"store": "ok", **node.status()}
    status = "ready" if all(v == "ok" for v in checks.values()) else "degraded"
    return JSONResponse({"status": status, "checks": checks})


async def list_documents(request: Request) -> Response:
    known_params(request, {"limit", "offset", "q", "sort", "order"})
    limit = int_param(request, "limit", 100, 0, MAX_PAGE)
    offset = int_param(request, "offset", 0, 0, 10**9)
    # Sorted by the database, so every page is cut from one order (a title sorts
    # A to Z first, a time newest first, unless order says otherwise).
    sort = choice_param(request, "sort", DOCUMENT_SORTS, "updated_at")
    order = choice_param(request, "order", ("asc", "desc"), "asc" if sort == "title" else "desc")
    descending = order == "desc"
    principal = await auth_of(request).require(request)
    store = node_of(request).store
    title_query = request.query_params.get("q", "")
    if title_query.strip() and ("sort" in request.query_params or "order" in request.query_params):
        raise DraftroomError(
            "q lists matching titles in id order; it cannot be combined with sort or order",
            code="invalid_sort",
        )
    if title_query.strip():  # titles matching, same query language as /api/search
        search = node_of(request).feature(Search)
        ids = await search.title_matches(principal, title_query, limit, offset)
        found = [await store.get_document(doc_id) for doc_id in ids]
        docs = [d for d in found if d is not None]
    elif principal.is_admin:
        docs = await store.list_documents(limit, offset, sort, descending)
    else:  # only documents the caller holds a role on
        ids = await auth_of(request).members.documents_of(
            principal.user_id, limit, offset, sort, descending
        )
        found = [await store.get_document(doc_id) for doc_id in ids]
        docs = [d for d in found if d is not None]
    # The caller's role on each, so a client offers only what it may do (the web app
    # shows Share and Delete to owners only).
    if principal.is_admin:
        roles = {d.id: "owner" for d in docs}
    else:
        roles = await auth_of(request).members.roles(principal.user_id, [d.id for d in docs])
    return JSONResponse(
        {
            "documents": [{**d.to_json(), "role": roles.get(d.id)} for d in docs],
            "limit": limit,
            "offset": offset,
        }
    )


async def create_document(request: Request) -> Response:
    auth = auth_of(request)
    principal = await auth.require(request)
    if "write" not in principal.scopes:
        raise Forbidden("creating documents needs the write scope")
    body = await json_object(request, allowed={"id", "title"})
    doc_id = body.get("id") or uuid.uuid4().hex
    if not isinstance(doc_id, str):
        raise Invalid("id must be a string", code="invalid_id")
    problem = doc_id_problem(doc_id)
    if problem:
        raise Invalid(f"{problem}; an id is {DOC_ID_RULE}", code="invalid_id")
    try:
        meta = await auth.create_document(principal, doc_id, _title(body, ""))
    except DocumentExists:
        raise DocumentExists(f"document {doc_id!r} already exists") from None
    except DocumentDeleted:
        raise DocumentDeleted(f"document {doc_id!r} was deleted; ids are not reused") from None
    return JSONResponse(meta.to_json(), status_code=201)


async def get_document(request: Request) -> Response:
    doc_id = request.path_params["doc_id"]
    await authorize(request, doc_id, "read")
    meta = await node_of(request).store.get_document(doc_id)
    if meta is None:
        raise NotFound("no such document")
    return JSONResponse(meta.to_json())


async def update_document(request: Request) -> Response:
    doc_id = request.path_params["doc_id"]
    await authorize(request, doc_id, "edit")
    body = await json_object(request, allowed={"title"})
    meta = await node_of(request).store.update_document(doc_id, _title(body, None))
    if meta is None:
        raise NotFound("no such document")
    if search := node_of(request).optional(Search):
        search.note(doc_id)  # a new title is searchable soon
    return JSONResponse(meta.to_json())


async def delete_document(request: Request) -> Response:
    node = node_of(request)
    doc_id = request.path_params["doc_id"]
    await authorize(request, doc_id, "delete")
    if await node.store.get_document(doc_id) is None:
        raise NotFound("no such document")
    # Close live editors first, on every node, and let this node's queued saves land,
    # so nothing re-creates the document right after it is deleted.
    auth_of(request).announce(deleted=doc_id)
    await node.store.flush()
    # Roles go before the document: a member reconnecting in between is refused (4403)
    # rather than let into a room whose saves would re-create the deleted document.
    await auth_of(request).members.remove_document(doc_id)
    await node.store.delete_document(doc_id)
    if search := node.optional(Search):
        await search.remove(doc_id)
    return Response(status_code=204)


async def document_content(request: Request) -> Response:
    node = node_of(request)
    doc_id = request.path_params["doc_id"]
    await authorize(request, doc_id, "read")
    room = node.rooms.get(doc_id)
    if room is not None and not room.closed:
        return JSONResponse({"id": doc_id, "version": room.version, **content(room.doc)})
    meta = await node.store.get_document(doc_id)
    if meta is None:
        raise NotFound("no such document")
    loaded = await load_doc(node.store, doc_id)
    return JSONResponse({"id": doc_id, "version": loaded.version, **content(loaded.doc)})


routes = [
    Route("/healthz", healthz),
    Route("/readyz", readyz),
    Route("/api/documents", list_documents, methods=["GET"]),
    Route("/api/documents", create_document, methods=["POST"]),
    Route("/api/documents/{doc_id:doc}/content", document_content, methods=["GET"]),
    Route("/api/documents/{doc_id:doc}", get_document, methods=["GET"]),
    Route("/api/documents/{doc_id:doc}", update_document, methods=["PATCH"]),
    Route("/api/documents/{doc_id:doc}", delete_document, methods=["DELETE"]),
]
