"""HTTP API for imports: a DOCX, Markdown, HTML or text file into a document.

    POST /api/documents/{id}/import?mode=create|replace|append&format=docx|md|html|txt
         &title=...&filename=...        body: the file itself

``create`` (the default) makes document ``id`` with the caller as its owner, by the
same rules as ``POST /api/documents`` (write scope; an id in use or deleted is
refused); ``replace`` and ``append`` need edit access to an existing document and
change it as a normal edit, so open editors see the import arrive live. The answer
(201 for create, 200 otherwise) comes once the edit is saved:

    {"id": ..., "title": ..., "mode": ..., "format": ..., "version": 7,
     "blocks": 120, "words": 15000, "client_id": 123}

Everything is checked before anything changes: access, the id, the format (415),
the size (413, from Content-Length before a byte is read), and the whole file is
parsed (422 if it cannot be) before the document is created or edited.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from draftroom.auth.service import authorize
from draftroom.config import Settings
from draftroom.document.tree import Document, plain_text
from draftroom.errors import DocumentDeleted, DocumentExists, Forbidden, Invalid, NotFound
from draftroom.imports import ImportLimits, detect_format
from draftroom.imports.apply import MODES, apply_import, parse_off_loop
from draftroom.node import Node
from draftroom.server.body import read_body
from draftroom.server.params import DOC_ID_RULE, doc_id_problem
from draftroom.server.services import auth_of, node_of

MAX_TITLE = 500  # as POST /api/documents
PATH = re.compile(r"^/api/documents/.+/import$")


def body_limit(settings: Settings) -> Callable[[str], int | None]:
    """For BodyLimitMiddleware: an import's body may be a file past the usual limit."""

    def limit(path: str) -> int | None:
        return settings.import_max_bytes if PATH.match(path) else None

    return limit


def _limits(node: Node) -> ImportLimits:
    return ImportLimits(
        max_bytes=node.settings.import_max_bytes,
        max_unpacked_bytes=node.settings.import_max_unpacked_bytes,
    )


def _mode(request: Request) -> str:
    mode = request.query_params.get("mode", "create")
    if mode not in MODES:
        raise Invalid(f"mode must be one of {', '.join(MODES)}", code="invalid_mode")
    return mode


def _title(request: Request) -> str:
    title = request.query_params.get("title", "")
    if len(title) > MAX_TITLE:
        raise Invalid(f"title must be at most {MAX_TITLE} chars", code="invalid_title")
    return title


async def import_document(request: Request) -> Response:
    node = node_of(request)
    auth = auth_of(request)
    doc_id = request.path_params["doc_id"]
    mode = _mode(request)
    title = _title(request)
    # Access first: a stranger learns nothing about the id or the file.
    if mode == "create":
        principal = await auth.require(request)
        if "write" not in principal.scopes:
            raise Forbidden("creating documents needs the write scope")
        problem = doc_id_problem(doc_id)
        if problem:
            raise Invalid(f"{problem}; an id is {DOC_ID_RULE}", code="invalid_id")
        if await node.store.get_document(doc_id) is not None:
            raise DocumentExists(
                f"document {doc_id!r} already exists; import with mode=replace or mode=append"
            )
    else:
        principal = await authorize(request, doc_id, "edit")
        if await node.store.get_document(doc_id) is None:
            raise NotFound("no such document; import with mode=create to make it")
    limits = _limits(node)
    fmt_param = request.query_params.get("format")
    content_type = request.headers.get("content-type")
    filename = request.query_params.get("filename")
    if fmt_param or filename:  # known before the body: refuse early
        detect_format(fmt_param, content_type, filename)
    data = await read_body(request, limits.max_bytes)
    fmt = detect_format(fmt_param, content_type, filename, data[:8])
    document = await parse_off_loop(data, fmt, limits, title)
    del data
    if mode == "create":
        name = document.title[:MAX_TITLE]
        try:
            await auth.create_document(principal, doc_id, name)
        except DocumentExists:
            raise DocumentExists(f"document {doc_id!r} already exists") from None
        except DocumentDeleted:
            raise DocumentDeleted(f"document {doc_id!r} was deleted; ids are not reused") from None
    applied = await apply_import(
        node.rooms,
        doc_id,
        document.blocks,
        "replace" if mode == "create" else mode,
        user=principal.user_id,
        username=principal.username,
        role=await auth.role(principal, doc_id),
    )
    meta = await node.store.get_document(doc_id)
    return JSONResponse(
        {
            "id": doc_id,
            "title": meta.title if meta is not None else document.title,
            "mode": mode,
            "format": fmt,
            "version": applied.version,
            "client_id": applied.client_id,
            **summary(document),
        },
        status_code=201 if mode == "create" else 200,
    )


def summary(document: Document) -> dict[str, int]:
    return {"blocks": len(document.blocks), "words": len(plain_text(document.blocks).split())}


routes = [Route("/api/documents/{doc_id:doc}/import", import_document, methods=["POST"])]
