"""HTTP API for exports: one document, a batch (streamed ZIP or compiled manuscript),
and background jobs with progress.

    GET  /api/documents/{id}/export/{format}?page_size=Letter&toc=true
    POST /api/export              {"documents": [...], "format": "docx", "mode": "zip"}
    POST /api/export/jobs         same body -> 202 {"id": ..., "state": "queued", ...}
    GET  /api/export/jobs/{id}    -> {"state": "running", "done": 3, "total": 10, ...}
    GET  /api/export/jobs/{id}/result
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from draftroom.analytics.recorder import Analytics
from draftroom.auth.service import authorize
from draftroom.errors import Conflict, DraftroomError, Invalid, NotFound
from draftroom.export import ExportOptions, known_formats
from draftroom.export.jobs import MODES, ExportService, Job, output_for
from draftroom.export.params import parse_options
from draftroom.export.safety import safe_name
from draftroom.server.body import json_object
from draftroom.server.services import node_of
from draftroom.store.base import DocumentMeta, valid_doc_id

MAX_BODY = 1024 * 1024


def service(request: Request) -> ExportService:
    return node_of(request).feature(ExportService)


def content_disposition(filename: str) -> str:
    """RFC 6266: an ASCII ``filename`` for old clients, ``filename*`` with the real name.

    Both go through the export name policy first, and the ASCII fold after it, so no
    normalisation a client applies can turn the name into a path.
    """
    filename = safe_name(filename) or "export"
    ascii_name = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode()
    # Dropped marks can leave dots side by side ("a.\u0301.b" folds to "a..b").
    ascii_name = re.sub(r"\.{2,}", ".", ascii_name)
    ascii_name = "".join(c if c.isprintable() and c not in '"\\' else "_" for c in ascii_name)
    ascii_name = re.sub(r" {2,}", " ", ascii_name)  # where dropped characters were
    if not ascii_name.strip(" ._") or ascii_name.startswith("."):
        ascii_name = "export" + ascii_name
    value = f'attachment; filename="{ascii_name}"'
    if ascii_name != filename:
        value += f"; filename*=UTF-8''{quote(filename, safe='')}"
    return value


def _format(fmt: object, error: type[DraftroomError]) -> str:
    known = known_formats()
    if not isinstance(fmt, str) or fmt not in known:
        raise error(f"unknown export format; use one of {', '.join(known)}", code="unknown_format")
    return fmt


async def export_document(request: Request) -> Response:
    fmt = _format(request.path_params["fmt"], NotFound)
    doc_id = request.path_params["doc_id"]
    principal = await authorize(request, doc_id, "export")
    options = parse_options(dict(request.query_params))
    svc = service(request)
    (meta,) = await svc.documents([doc_id])
    data = await svc.render_one(meta, fmt, options)
    _record_export(request, principal.user_id, [doc_id], fmt)
    output = output_for([meta], fmt, "compile", options)
    return Response(
        data,
        media_type=output.content_type,
        headers={"Content-Disposition": content_disposition(output.filename)},
    )


async def _batch(request: Request) -> tuple[list[DocumentMeta], str, str, ExportOptions]:
    body = await json_object(
        request, allowed={"documents", "format", "mode", "options"}, max_bytes=MAX_BODY
    )
    fmt = _format(body.get("format"), Invalid)
    mode = body.get("mode", "zip")
    if mode not in MODES:
        raise Invalid(f"mode must be one of {', '.join(MODES)}", code="invalid_mode")
    doc_ids = body.get("documents")
    limit = service(request).settings.export_max_documents
    if (
        not isinstance(doc_ids, list)
        or not 1 <= len(doc_ids) <= limit
        or not all(isinstance(d, str) and valid_doc_id(d) for d in doc_ids)
    ):
        raise Invalid(
            f"documents must be a list of 1 to {limit} document ids", code="invalid_documents"
        )
    if len(set(doc_ids)) != len(doc_ids):
        # Refused rather than rendered: each copy would cost a full read and render.
        raise Invalid("documents must not list an id twice", code="duplicate_documents")
    for doc_id in doc_ids:  # every document in the batch, or none
        principal = await authorize(request, doc_id, "export")
    request.state.exporter = principal.user_id
    options = body.get("options", {})
    if not isinstance(options, dict):
        raise Invalid("options must be a JSON object", code="invalid_option")
    parsed = parse_options(options)
    return await service(request).documents(doc_ids), fmt, mode, parsed


def _record_export(request: Request, user: str | None, doc_ids: list[str], fmt: str) -> None:
    events = node_of(request).optional(Analytics)
    if events is not None:
        for doc_id in doc_ids:
            events.record("export.made", user or "anonymous", doc_id, label=fmt)


async def export_batch(request: Request) -> Response:
    metas, fmt, mode, options = await _batch(request)
    _record_export(request, request.state.exporter, [m.id for m in metas], fmt)
    svc = service(request)
    output = output_for(metas, fmt, mode, options)
    headers = {"Content-Disposition": content_disposition(output.filename)}
    if mode == "compile":
        # One file: render it all first, so a failure is still a JSON error.
        data = b"".join([chunk async for chunk in svc.stream(metas, fmt, mode, options)])
        return Response(data, media_type=output.content_type, headers=headers)
    # A ZIP goes out entry by entry; a failure midway cuts the stream short, which
    # ZIP readers detect (no central directory).
    return StreamingResponse(
        svc.stream(metas, fmt, mode, options), media_type=output.content_type, headers=headers
    )


async def create_job(request: Request) -> Response:
    metas, fmt, mode, options = await _batch(request)
    job = service(request).create_job(metas, fmt, mode, options, request.state.exporter)
    return JSONResponse(
        job.to_json(), status_code=202, headers={"Location": f"/api/export/jobs/{job.id}"}
    )


def _job(request: Request) -> Job:
    job = service(request).jobs.get(request.path_params["job_id"])
    if job is None:
        raise NotFound("no such export job (finished jobs expire)")
    return job


async def _authorized_job(request: Request) -> Job:
    # Job ids are not secrets: whoever fetches a job must still be allowed to export
    # every document in it (access may also have been revoked since).
    job = _job(request)
    for doc_id in job.doc_ids:
        await authorize(request, doc_id, "export")
    return job


async def get_job(request: Request) -> Response:
    return JSONResponse((await _authorized_job(request)).to_json())


async def job_result(request: Request) -> Response:
    job = await _authorized_job(request)
    if job.state == "failed":
        raise Conflict(f"export job failed: {job.error}", code="failed")
    if job.state != "done":
        raise Conflict(f"export job is {job.state} ({job.done}/{job.total})", code="not_ready")
    path = service(request).result_path(job)
    if not path.exists():
        raise NotFound("export result has expired")
    return FileResponse(
        path,
        media_type=job.output.content_type,
        headers={"Content-Disposition": content_disposition(job.output.filename)},
    )


routes = [
    Route("/api/documents/{doc_id:doc}/export/{fmt}", export_document, methods=["GET"]),
    Route("/api/export", export_batch, methods=["POST"]),
    Route("/api/export/jobs", create_job, methods=["POST"]),
    Route("/api/export/jobs/{job_id}", get_job, methods=["GET"]),
    Route("/api/export/jobs/{job_id}/result", job_result, methods=["GET"]),
]
