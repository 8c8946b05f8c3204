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
from draftroom.auth.permissions import authorize
from draftroom.export import FORMATS, ExportOptions
from draftroom.export.jobs import MODES, Busy, ExportService, Job, MissingDocuments, output_for
from draftroom.export.params import OptionError, parse_options
from draftroom.server.body import json_object
from draftroom.server.errors import ApiError
from draftroom.server.services import node_of
from draftroom.store.base import DocumentMeta, valid_doc_id

MAX_BODY = 1024 * 1024


def service(request: Request) -> ExportService:
    return node_of(request).feature(ExportService)


def content_disposition(filename: str) -> str:
    """RFC 6266: an ASCII ``filename`` for old clients, ``filename*`` with the real name."""
    ascii_name = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode()
    ascii_name = "".join(c if c.isprintable() and c not in '"\\' else "_" for c in ascii_name)
    ascii_name = re.sub(r" {2,}", " ", ascii_name)  # where dropped characters were
    if not ascii_name.strip(" ._") or ascii_name.startswith("."):
        ascii_name = "export" + ascii_name
    value = f'attachment; filename="{ascii_name}"'
    if ascii_name != filename:
        value += f"; filename*=UTF-8''{quote(filename, safe='')}"
    return value


def _format(fmt: object, status: int) -> str:
    if not isinstance(fmt, str) or fmt not in FORMATS:
        raise ApiError(
            status, "unknown_format", f"unknown export format; use one of {', '.join(FORMATS)}"
        )
    return fmt


def _options(values: dict[str, object]) -> ExportOptions:
    try:
        return parse_options(values)
    except OptionError as exc:
        raise ApiError(422, "invalid_option", str(exc)) from None


async def _documents(svc: ExportService, doc_ids: list[str]) -> list[DocumentMeta]:
    try:
        return await svc.documents(doc_ids)
    except MissingDocuments as exc:
        raise ApiError(404, "not_found", str(exc)) from None


async def export_document(request: Request) -> Response:
    fmt = _format(request.path_params["fmt"], 404)
    doc_id = request.path_params["doc_id"]
    if not valid_doc_id(doc_id):
        raise ApiError(404, "not_found", "no such document")
    principal = await authorize(request, doc_id, "export")
    options = _options(dict(request.query_params))
    svc = service(request)
    (meta,) = await _documents(svc, [doc_id])
    data = await svc.render_one(meta, fmt, options)
    _record_export(request, principal.user_id, [doc_id], fmt)
    output = output_for([meta], fmt, "compile", options)
    return Response(
        data,
        media_type=output.content_type,
        headers={"Content-Disposition": content_disposition(output.filename)},
    )


async def _batch(request: Request) -> tuple[list[DocumentMeta], str, str, ExportOptions]:
    body = await json_object(request, MAX_BODY)
    unknown = set(body) - {"documents", "format", "mode", "options"}
    if unknown:
        raise ApiError(422, "invalid", f"unknown fields: {', '.join(sorted(unknown))}")
    fmt = _format(body.get("format"), 422)
    mode = body.get("mode", "zip")
    if mode not in MODES:
        raise ApiError(422, "invalid_mode", f"mode must be one of {', '.join(MODES)}")
    doc_ids = body.get("documents")
    limit = service(request).settings.export_max_documents
    if (
        not isinstance(doc_ids, list)
        or not 1 <= len(doc_ids) <= limit
        or not all(isinstance(d, str) and valid_doc_id(d) for d in doc_ids)
    ):
        raise ApiError(
            422, "invalid_documents", f"documents must be a list of 1 to {limit} document ids"
        )
    for doc_id in doc_ids:  # every document in the batch, or none
        principal = await authorize(request, doc_id, "export")
    request.state.exporter = principal.user_id
    options = body.get("options", {})
    if not isinstance(options, dict):
        raise ApiError(422, "invalid_option", "options must be a JSON object")
    parsed = _options(options)
    return await _documents(service(request), doc_ids), fmt, mode, parsed


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
    try:
        job = service(request).create_job(metas, fmt, mode, options)
    except Busy as exc:
        raise ApiError(503, "busy", str(exc)) from None
    return JSONResponse(
        job.to_json(), status_code=202, headers={"Location": f"/api/export/jobs/{job.id}"}
    )


def _job(request: Request) -> Job:
    job = service(request).jobs.get(request.path_params["job_id"])
    if job is None:
        raise ApiError(404, "not_found", "no such export job (finished jobs expire)")
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
        raise ApiError(409, "failed", f"export job failed: {job.error}")
    if job.state != "done":
        raise ApiError(409, "not_ready", f"export job is {job.state} ({job.done}/{job.total})")
    path = service(request).result_path(job)
    if not path.exists():
        raise ApiError(404, "not_found", "export result has expired")
    return FileResponse(
        path,
        media_type=job.output.content_type,
        headers={"Content-Disposition": content_disposition(job.output.filename)},
    )


routes = [
    Route("/api/documents/{doc_id:path}/export/{fmt}", export_document, methods=["GET"]),
    Route("/api/export", export_batch, methods=["POST"]),
    Route("/api/export/jobs", create_job, methods=["POST"]),
    Route("/api/export/jobs/{job_id}", get_job, methods=["GET"]),
    Route("/api/export/jobs/{job_id}/result", job_result, methods=["GET"]),
]
