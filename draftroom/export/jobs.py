"""Running exports inside the server: worker processes, streaming, and background jobs.

Why a process pool: WeasyPrint and python-docx hold the GIL for seconds, so even a
thread would stall the event loop that acknowledges edits. Each document is
rendered by a worker process; the event loop only loads stored bytes and moves
finished files along.

What is exported: the store, after flushing this node's pending appends. That is
every edit any node has acknowledged (acks are sent after commit), the same state
``GET /api/documents/{id}/content`` reads for a closed room, and it does not
depend on which node serves the request.

Memory stays flat for large batches: documents are loaded and rendered a few at a
time (``export_workers`` ahead of the one being sent) and ZIP bytes go out as each
entry is compressed. Background jobs write the same stream to a file under
``data_dir/exports`` and keep it for ``export_ttl_seconds``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from draftroom.config import Settings
from draftroom.errors import NotFound, RateLimited, Unavailable
from draftroom.export import ExportOptions, get_format, known_formats
from draftroom.export.files import UniqueNames, ZipWriter, safe_stem
from draftroom.export.worker import (
    Source,
    lower_priority,
    read_source,
    render_compiled,
    render_source,
)
from draftroom.features import BaseFeature
from draftroom.store.base import DocumentMeta, Store
from draftroom.telemetry import metrics
from draftroom.times import iso, iso_or_none

log = logging.getLogger(__name__)

T = TypeVar("T")
MODES = ("zip", "compile")
Progress = Callable[[str, int, int], None]  # (document id, done, total)
Broadcast = Callable[[str, dict[str, Any]], None]  # Node.broadcast_app


class MissingDocuments(NotFound):
    def __init__(self, doc_ids: list[str]) -> None:
        super().__init__(f"no such document(s): {', '.join(doc_ids)}")
        self.doc_ids = doc_ids


class Busy(Unavailable):
    """Too many export jobs are waiting already."""

    code = "busy"


class UserBusy(RateLimited):
    """This user has as many jobs queued or running as one user may; ``retry_after``
    is a hint in seconds. Without it one user could fill the node's whole queue."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message, retry_after=retry_after)


# How long a refused user is asked to wait: about one short job.
USER_RETRY_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class Output:
    """What an export produces, before any byte of it exists."""

    filename: str
    content_type: str


@dataclass
class Job:
    id: str
    fmt: str
    mode: str
    doc_ids: list[str]
    output: Output
    owner: str = ""  # the user who asked for it; counted against their cap
    created_at: float = field(default_factory=time.time)
    state: str = "queued"  # queued -> running -> done | failed
    done: int = 0
    error: str | None = None
    size_bytes: int = 0
    finished_at: float | None = None

    @property
    def total(self) -> int:
        return len(self.doc_ids)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "state": self.state,
            "format": self.fmt,
            "mode": self.mode,
            "done": self.done,
            "total": self.total,
            "documents": self.doc_ids,
            "filename": self.output.filename,
            "size_bytes": self.size_bytes,
            "error": self.error,
            "created_at": iso(self.created_at),
            "finished_at": iso_or_none(self.finished_at),
        }


def output_for(metas: list[DocumentMeta], fmt: str, mode: str, options: ExportOptions) -> Output:
    """The download's name and type: a compiled file is named after the work (or its
    first document), a batch is a ZIP of one file per document."""
    kind = get_format(fmt)
    if mode == "compile":
        first = metas[0].title or metas[0].id if metas else ""
        return Output(safe_stem(options.project_title or first) + kind.extension, kind.content_type)
    return Output(f"export-{fmt}.zip", "application/zip")


class ExportService(BaseFeature):
    def __init__(self, settings: Settings, store: Store, broadcast: Broadcast) -> None:
        self.settings = settings
        self.store = store
        self.broadcast = broadcast
        self.directory = Path(settings.data_dir) / "exports"
        self.jobs: dict[str, Job] = {}
        # Every export (stream, single file or job) holds a slot while it renders.
        self._slots = asyncio.Semaphore(max(1, settings.export_max_jobs))
        self._pool: ProcessPoolExecutor | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._cleaner: asyncio.Task[None] | None = None

    # -- lifecycle --------------------------------------------------------------

    async def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        # Importing the writers and scanning the plugins' entry points takes 0.1-1 s:
        # done on the first export request, it would stall every writer on the node.
        # Here the node serves no one yet (and no thread races the registry).
        known_formats()
        self._cleaner = asyncio.get_running_loop().create_task(self._clean_loop())

    async def stop(self) -> None:
        await self.close()

    async def close(self) -> None:
        tasks = [*self._tasks, *([self._cleaner] if self._cleaner else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._pool is not None:
            pool, self._pool = self._pool, None
            # Queued renders are dropped; a running one finishes in its process.
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # spawn, not fork: forking a process that runs an event loop and
            # database threads copies their locks in whatever state they are in.
            self._pool = ProcessPoolExecutor(
                max_workers=max(1, self.settings.export_workers),
                mp_context=multiprocessing.get_context("spawn"),
                initializer=lower_priority,
            )
        return self._pool

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor(), fn, *args)

    # -- reading the store ------------------------------------------------------

    async def documents(self, doc_ids: list[str]) -> list[DocumentMeta]:
        """Metadata for every id, in order; MissingDocuments names the unknown ones."""
        metas = [await self.store.get_document(doc_id) for doc_id in doc_ids]
        missing = [d for d, m in zip(doc_ids, metas, strict=True) if m is None]
        if missing:
            raise MissingDocuments(missing)
        return [m for m in metas if m is not None]

    async def _source(self, meta: DocumentMeta) -> Source:
        state = await self.store.load(meta.id)
        return Source(meta.id, meta.title, state.snapshot, list(state.updates))

    # -- exports ----------------------------------------------------------------

    async def render_one(self, meta: DocumentMeta, fmt: str, options: ExportOptions) -> bytes:
        started = time.perf_counter()
        async with self._slots:
            await self.store.flush()
            try:
                data = await self._run(
                    render_source, await self._source(meta), get_format(fmt), options
                )
            except Exception as exc:
                metrics.export_done(fmt, time.perf_counter() - started, type(exc).__name__)
                raise
        metrics.export_done(fmt, time.perf_counter() - started)
        return data

    async def stream(
        self,
        metas: list[DocumentMeta],
        fmt: str,
        mode: str,
        options: ExportOptions,
        progress: Progress | None = None,
    ) -> AsyncIterator[bytes]:
        """The export's bytes in order; a ZIP is sent entry by entry as it is built."""
        started = time.perf_counter()
        async with self._slots:
            await self.store.flush()
            if mode == "compile":
                yield await self._compile(metas, fmt, options, progress)
            else:
                async for chunk in self._zip(metas, fmt, options, progress):
                    yield chunk
        metrics.export_done(fmt, time.perf_counter() - started)

    async def _compile(
        self,
        metas: list[DocumentMeta],
        fmt: str,
        options: ExportOptions,
        progress: Progress | None,
    ) -> bytes:
        docs = []
        # One document at a time so progress means something; the final render
        # (all of a PDF's layout) is the last, longest step.
        for n, meta in enumerate(metas, 1):
            docs.append(await self._run(read_source, await self._source(meta)))
            if progress:
                progress(meta.id, n, len(metas))
        return await self._run(render_compiled, docs, get_format(fmt), options)

    async def _zip(
        self,
        metas: list[DocumentMeta],
        fmt: str,
        options: ExportOptions,
        progress: Progress | None,
    ) -> AsyncIterator[bytes]:
        names = UniqueNames()
        kind = get_format(fmt)
        writer = ZipWriter()
        depth = max(1, self.settings.export_workers)
        pending: deque[tuple[DocumentMeta, asyncio.Future[bytes]]] = deque()
        queue = iter(metas)
        try:
            done = 0
            while True:
                # Keep every worker busy, but never hold more than `depth` files.
                while len(pending) < depth and (meta := next(queue, None)) is not None:
                    source = await self._source(meta)
                    render: asyncio.Future[bytes] = asyncio.ensure_future(
                        self._run(render_source, source, kind, options)
                    )
                    pending.append((meta, render))
                if not pending:
                    break
                meta, render = pending.popleft()
                try:
                    data = await render
                except Exception as exc:  # never a truncated ZIP: skip it, say so inside
                    log.exception("export of %s failed; left out of the ZIP", meta.id)
                    writer.skip(meta.id, exc)
                    data = None
                if data is not None:
                    name = names.name(meta.title or meta.id, kind.extension)
                    # zlib releases the GIL: compress beside the loop, not on it.
                    for chunk in await asyncio.to_thread(writer.add, name, data):
                        yield chunk
                done += 1
                if progress:
                    progress(meta.id, done, len(metas))
            for chunk in writer.close():
                yield chunk
        finally:
            for _, unsent in pending:  # the client went away: drop renders not started
                unsent.cancel()
            writer.abandon()

    # -- background jobs ----------------------------------------------------------

    def create_job(
        self,
        metas: list[DocumentMeta],
        fmt: str,
        mode: str,
        options: ExportOptions,
        owner: str = "",
    ) -> Job:
        """Queue a job; raises UserBusy past the per-user cap (as many jobs as the node
        renders at once), Busy past the node's queue (ten times that)."""
        active = [j for j in self.jobs.values() if j.state in ("queued", "running")]
        per_user = max(1, self.settings.export_max_jobs)
        if owner and sum(1 for j in active if j.owner == owner) >= per_user:
            raise UserBusy(
                f"you have {per_user} export jobs in progress already; wait for one to finish",
                USER_RETRY_SECONDS,
            )
        if len(active) >= 10 * per_user:
            raise Busy("too many export jobs in progress; try again later")
        job = Job(
            uuid.uuid4().hex,
            fmt,
            mode,
            [m.id for m in metas],
            output_for(metas, fmt, mode, options),
            owner,
        )
        self.jobs[job.id] = job
        task = asyncio.get_running_loop().create_task(self._run_job(job, metas, options))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return job

    def result_path(self, job: Job) -> Path:
        return self.directory / f"{job.id}.bin"

    async def _run_job(self, job: Job, metas: list[DocumentMeta], options: ExportOptions) -> None:
        final = self.result_path(job)
        part = final.with_suffix(".part")

        def progress(doc_id: str, done: int, total: int) -> None:
            job.state, job.done = "running", done
            self._announce(job, doc_id)

        stopped = False
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            with part.open("wb") as out:
                async for chunk in self.stream(metas, job.fmt, job.mode, options, progress):
                    if job.state == "queued":
                        job.state = "running"
                    await asyncio.to_thread(out.write, chunk)
                    job.size_bytes += len(chunk)
            os.replace(part, final)
            job.state = "done"
        except asyncio.CancelledError:
            job.state, job.error, stopped = "failed", "server stopped", True
            raise
        except Exception as exc:
            log.exception("export job %s failed", job.id)
            job.state, job.error = "failed", f"{type(exc).__name__}: {exc}"
        finally:
            job.finished_at = time.time()
            with contextlib.suppress(OSError):
                part.unlink()
            if not stopped:
                for doc_id in job.doc_ids:  # everyone in the job learns it ended
                    self._announce(job, doc_id)

    def _announce(self, job: Job, doc_id: str) -> None:
        message: dict[str, Any] = {
            "type": "export.progress",
            "job": job.id,
            "document": doc_id,
            "done": job.done,
            "total": job.total,
            "state": job.state,
        }
        try:
            self.broadcast(doc_id, message)
        except Exception:  # progress is best effort; the job resource is the truth
            log.exception("export progress for %s not sent", doc_id)

    # -- expiry -------------------------------------------------------------------

    async def _clean_loop(self) -> None:
        interval = min(60.0, max(1.0, self.settings.export_ttl_seconds / 4))
        while True:
            try:
                await asyncio.to_thread(self.clean)
            except Exception:
                log.exception("export cleanup failed")
            await asyncio.sleep(interval)

    def clean(self, now: float | None = None) -> None:
        """Forget finished jobs past their TTL and delete old files (also ones left
        by earlier runs of the server, which this process never knew about)."""
        now = time.time() if now is None else now
        ttl = self.settings.export_ttl_seconds
        for job in list(self.jobs.values()):
            if job.finished_at is not None and now - job.finished_at > ttl:
                self.jobs.pop(job.id, None)
                with contextlib.suppress(OSError):
                    self.result_path(job).unlink()
        live = {f"{job_id}.bin" for job_id in self.jobs} | {
            f"{job_id}.part" for job_id in self.jobs
        }
        with contextlib.suppress(OSError):
            for path in self.directory.iterdir():
                if path.name in live:
                    continue
                with contextlib.suppress(OSError):
                    if now - path.stat().st_mtime > ttl:
                        path.unlink()
