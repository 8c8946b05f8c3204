"""Search under editing load, both stores: latency, freshness, edit-path cost, index size.

Per store, in one invocation:
1. A generated corpus (``--docs``, default 100,000) of novel-like plain-text documents,
   1-50 KB each (log-uniform), with "# Part" / "## Chapter" headings and a Zipf vocabulary
   plus character names, written straight into a fresh store.
2. The index is built in-process (as a node that has caught up would have it; the
   build rate and the index size against the text size are recorded). With
   ``--corpus-dir DIR`` steps 1-2 are done once and reused by later runs; ``--prepare``
   does only them, so they can run niced, outside the benchmark lock.
   A server then starts on the store with indexing on.
3. Load, indexing ON: ``--writers`` (200) clients each type into their own corpus document
   (a keystroke every 150-300 ms; save-ack latency = send -> "saved" ack), ``--searchers``
   (20) clients run queries (words, AND, prefixes, phrases; ``--think``, 1 s, between
   queries: a person typing), and 10 of the writers type a unique marker word every
   2 s, polled until found (freshness = ack of the marker -> first search finding it).
4. The naive baseline: each word query as a substring scan of the stored text
   (``ILIKE '%w%'`` / ``instr(lower(body), w)``) against the index, quiet, same data.
5. The same load with ``--no-search-indexing``: the save-ack p99 to compare against.

Exits non-zero (``FAILED:`` lines) on any error or missed target: search p99 < 50 ms,
freshness p99 < 2 s, save-ack p99 with indexing within 10% of without.

    .venv/bin/python bench/search.py --docs 20000 --seconds 30
    nice -n 15 .venv/bin/python bench/search.py --docs 20000 --corpus-dir /tmp/c --prepare
    flock /work/wt/_bench.lock .venv/bin/python bench/search.py --docs 20000 --corpus-dir /tmp/c
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import multiprocessing
import os
import queue
import random
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg
import common
import httpx
from common import fmt, markdown_table, percentiles
from pycrdt import Doc, Text

from devtools.postgres import PostgresServer
from draftroom.client import DraftroomClient
from draftroom.search.service import Search
from draftroom.store.postgres import PostgresStore
from draftroom.store.sqlite import SQLiteStore

SYLLABLES = "ka lo mi ra ne tu sa vi da re po li ta mo ne ga shi ru an el or th".split()
SYLLABLES_NAMES = [a + b for a in SYLLABLES for b in SYLLABLES]
ROOTS = ["Aldric", "Brannoc", "Caelith", "Dravena", "Elowen", "Fenwick", "Gisela", "Halvard"]
# Each document's story has its own three characters, from 2,000 names.
NAMES = [f"{root}{suffix}" for suffix in ("", *SYLLABLES_NAMES) for root in ROOTS][:2000]


def vocabulary(rng: random.Random, size: int = 20000) -> list[str]:
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(1, 4))))
    return sorted(words, key=lambda w: (len(w), w))  # short words first: the common ones


class Corpus:
    def __init__(self, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.words = vocabulary(self.rng)
        self.cum = list(
            __import__("itertools").accumulate(1 / (r + 1) for r in range(len(self.words)))
        )

    def text(self, target: int) -> str:
        rng, lines, size, part, chapter = self.rng, [], 0, 0, 0
        cast = rng.sample(NAMES, 3)
        while size < target:
            if chapter % 5 == 0:
                part += 1
                lines.append(f"# Part {part}")
            chapter += 1
            lines.append(f"## Chapter {chapter}")
            for _ in range(rng.randint(3, 8)):
                words = rng.choices(self.words, cum_weights=self.cum, k=rng.randint(40, 120))
                words[rng.randrange(len(words))] = rng.choice(cast)
                para = " ".join(words).capitalize() + "."
                lines.append(para)
                size += len(para)
        return "\n".join(lines)

    def document(self) -> tuple[str, str, bytes]:
        size = int(math.exp(self.rng.uniform(math.log(1000), math.log(50000))))
        text = self.text(size)
        doc: Doc = Doc()
        doc.get("text", type=Text).insert(0, text)
        title = " ".join(self.rng.choices(self.words[200:3000], k=3)).title()
        return title, text, doc.get_update()


def queries(corpus: Corpus) -> dict[str, list[str]]:
    w = corpus.words
    return {
        "word": [w[i] for i in (900, 2500, 4000, 7000, 12000)] + NAMES[100:105],
        "and": [f"{w[300]} {w[2000]}", f"{NAMES[3]} {w[1200]}", f"{NAMES[50]} {w[10]}"],
        "prefix": [w[3000][:4], NAMES[444][:6].lower(), w[6000][:4]],
        "phrase": [f'"{NAMES[5]} {w[0]}"', f'"{w[0]} {w[1]}"'],
    }


async def write_corpus(store: Any, n: int, corpus: Corpus) -> tuple[float, int]:
    started, text_bytes, batch = time.monotonic(), 0, 500
    now = time.time()
    for start in range(0, n, batch):
        docs, updates = [], []
        for i in range(start, min(n, start + batch)):
            title, text, update = corpus.document()
            text_bytes += len(text.encode())
            docs.append((f"doc{i:06d}", title, len(update)))
            updates.append((f"doc{i:06d}", update))
        if store.dialect == "sqlite":
            iso = __import__("datetime").datetime.fromtimestamp(now).isoformat()
            await store.sql.executemany(
                "INSERT INTO documents (id, title, created_at, updated_at, seq, size_bytes)"
                f" VALUES ($1, $2, '{iso}', '{iso}', 1, $3)",
                docs,
            )
        else:
            await store.sql.executemany(
                "INSERT INTO documents (id, title, seq, size_bytes) VALUES ($1, $2, 1, $3)", docs
            )
        await store.sql.executemany(
            "INSERT INTO updates (doc_id, seq, data) VALUES ($1, 1, $2)", updates
        )
    return time.monotonic() - started, text_bytes


class DB:
    """The bench's own connection, for progress, sizes and the naive baseline."""

    def __init__(self, dialect: str, where: str) -> None:
        self.dialect, self.where = dialect, where
        self.pg: asyncpg.Connection | None = None
        self.lite: sqlite3.Connection | None = None

    async def open(self) -> None:
        if self.dialect == "postgres":
            self.pg = await asyncpg.connect(self.where)
        else:
            self.lite = sqlite3.connect(self.where, timeout=30, check_same_thread=False)

    async def value(self, query: str, *args: Any) -> Any:
        if self.pg is not None:
            return await self.pg.fetchval(query, *args)
        assert self.lite is not None
        q = query.replace("$1", "?")
        return await asyncio.to_thread(lambda: self.lite.execute(q, args).fetchone()[0])  # type: ignore[union-attr]

    async def behind(self) -> int:
        return int(
            await self.value(
                "SELECT count(*) FROM documents d LEFT JOIN search_documents s"
                " ON s.doc_id = d.id WHERE s.doc_id IS NULL OR s.indexed_version < d.seq"
            )
        )

    async def sizes(self) -> tuple[int, int]:
        """(index bytes, text bytes) of the search data: the text kept for snippets is
        counted as text, the terms and the full-text indexes as index."""
        if self.pg is not None:
            text = await self.value("SELECT sum(octet_length(body)) FROM search_sections")
            index = await self.value(
                "SELECT pg_relation_size('search_sections_terms')"
                " + pg_relation_size('search_documents_title_terms')"
                " + (SELECT sum(pg_column_size(terms)) FROM search_sections)"
                " + (SELECT sum(pg_column_size(title_terms)) FROM search_documents)"
            )
            return int(index), int(text)
        text = await self.value("SELECT sum(length(CAST(body AS BLOB))) FROM search_sections")
        index = await self.value(
            "SELECT (SELECT sum(length(block)) FROM search_section_fts_data)"
            " + (SELECT sum(length(block)) FROM search_titles_data)"
            " + (SELECT sum(length(CAST(body_terms AS BLOB)) + length(CAST(title_terms AS BLOB)))"
            " FROM search_sections)"
            " + (SELECT sum(length(CAST(title_terms AS BLOB))) FROM search_documents)"
        )
        return int(index), int(text)

    async def naive(self, word: str) -> float:
        """The same text scanned for a substring, no index."""
        t = time.perf_counter()
        if self.pg is not None:
            await self.value(
                "SELECT count(DISTINCT doc_id) FROM search_sections WHERE body ILIKE $1",
                f"%{word}%",
            )
        else:
            await self.value(
                "SELECT count(DISTINCT doc_id) FROM search_sections"
                " WHERE instr(lower(body), $1) > 0",
                word,
            )
        return (time.perf_counter() - t) * 1000

    async def close(self) -> None:
        if self.pg is not None:
            await self.pg.close()
        if self.lite is not None:
            self.lite.close()


def writers_process(
    base: str, writers: int, n_docs: int, seconds: float, markers: bool, out: Any
) -> None:
    """The writers, in a process of their own, so their CPU does not slow the searchers'
    clock (or the other way round). Sends ("marker", word, acked_at) as markers are
    acknowledged and ("done", results) at the end; monotonic clocks agree across
    processes."""
    out.put(("done", asyncio.run(_writers(base, writers, n_docs, seconds, markers, out))))


async def _writers(
    base: str, writers: int, n_docs: int, seconds: float, markers: bool, out: Any
) -> dict[str, Any]:
    # DraftroomClient sends from fire-and-forget tasks: a send racing the close at the
    # end is expected, not worth a traceback per writer.
    asyncio.get_running_loop().set_exception_handler(lambda loop, context: None)
    stop = asyncio.Event()
    measuring = asyncio.Event()
    acks: list[float] = []
    errors: dict[str, int] = {}
    rng = random.Random(3)
    ws = base.replace("http://", "ws://") + "/ws/"
    clients: list[DraftroomClient] = []

    async def writer(i: int) -> None:
        client = DraftroomClient(ws + f"doc{(i * 37) % n_docs:06d}", app_messages=True)
        try:
            await client.connect()
        except Exception:
            errors["connect"] = errors.get("connect", 0) + 1
            return
        clients.append(client)
        next_marker = time.monotonic() + 2 + rng.random() * 2
        k = 0
        while not stop.is_set():
            await asyncio.sleep(rng.uniform(0.15, 0.3))
            marker = markers and i < 10 and time.monotonic() >= next_marker
            k += 1
            word = f" zq{i}x{k} " if marker else rng.choice("abcdefgh ")
            t = time.monotonic()
            try:
                await client.wait_saved(client.insert(word), within=10)
            except Exception:
                errors["ack"] = errors.get("ack", 0) + 1
                continue
            if measuring.is_set():
                acks.append((time.monotonic() - t) * 1000)
            if marker:
                next_marker = time.monotonic() + 2
                out.put(("marker", word.strip(), time.monotonic(), measuring.is_set()))

    tasks = [asyncio.create_task(writer(i)) for i in range(writers)]
    await asyncio.sleep(5)  # warm-up: connect, sync, first passes
    measuring.set()
    await asyncio.sleep(seconds)
    measuring.clear()
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    for client in clients:
        with contextlib.suppress(Exception):
            await client.close()
    return {"ack_ms": percentiles(acks), "errors": errors, "connected": len(clients)}


async def load(
    base: str,
    writers: int,
    searchers: int,
    seconds: float,
    n_docs: int,
    qs: list[str],
    markers: bool,
    think: float,
) -> dict[str, Any]:
    stop = asyncio.Event()
    searches: list[float] = []
    fresh: list[float] = []
    errors: dict[str, int] = {}
    rng = random.Random(5)
    http = httpx.AsyncClient(base_url=base, timeout=30, limits=httpx.Limits(max_connections=64))
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    proc = ctx.Process(
        target=writers_process, args=(base, writers, n_docs, seconds, markers, out), daemon=True
    )
    proc.start()
    started = time.monotonic()

    def fail(kind: str) -> None:
        errors[kind] = errors.get(kind, 0) + 1

    async def probe(word: str, acked: float, measured: bool) -> None:
        while time.monotonic() - acked < 10:
            r = await http.get("/api/search", params={"q": word + " "})
            if r.status_code == 200 and r.json()["results"]:
                if measured:
                    fresh.append(time.monotonic() - acked)
                return
            await asyncio.sleep(0.05)
        fail("marker not found in 10 s")

    async def searcher() -> None:
        while not stop.is_set():
            q = rng.choice(qs)
            t = time.perf_counter()
            r = await http.get("/api/search", params={"q": q})
            if r.status_code != 200:
                fail(f"search {r.status_code}")
            elif 5 < time.monotonic() - started < 5 + seconds:
                searches.append((time.perf_counter() - t) * 1000)
            await asyncio.sleep(think)

    tasks = [asyncio.create_task(searcher()) for _ in range(searchers)]
    probes: list[asyncio.Task[None]] = []
    written: dict[str, Any] = {}
    deadline = started + seconds + 60
    while time.monotonic() < deadline:
        try:
            message = out.get_nowait()
        except queue.Empty:
            await asyncio.sleep(0.01)
            continue
        if message[0] == "marker":
            probes.append(asyncio.create_task(probe(*message[1:])))
        else:
            written = message[1]
            break
    stop.set()
    await asyncio.gather(*tasks, *probes, return_exceptions=True)
    proc.join(10)
    await http.aclose()
    if not written:
        return {"errors": {"writers process": 1}, "connected": 0}
    return {
        "ack_ms": written["ack_ms"],
        "search_ms": percentiles(searches),
        "fresh_s": percentiles(fresh),
        "errors": {**errors, **written["errors"]},
        "connected": written["connected"],
    }


async def quiet_queries(base: str, db: DB, words: list[str]) -> dict[str, Any]:
    indexed, naive = [], []
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        for _ in range(3):
            for w in words:
                t = time.perf_counter()
                await http.get("/api/search", params={"q": w + " "})
                indexed.append((time.perf_counter() - t) * 1000)
                naive.append(await db.naive(w.lower()))
    return {"indexed_ms": percentiles(indexed), "naive_ms": percentiles(naive)}


def postgres_in(work: Path | None) -> PostgresServer:
    """A cluster in ``work`` (kept, to be reused) or in a temp dir."""
    pg = PostgresServer()
    if work is not None:
        os.rmdir(pg.base)  # the temp dir it made: the cluster lives in work instead
        pg.base = work / "pg"
        pg.base.mkdir(parents=True, exist_ok=True)
        os.chmod(pg.base, 0o700)
        pg.datadir, pg.sockdir = pg.base / "data", pg.base / "sock"
    return pg


async def build_index(store: Any) -> float:
    """Index the whole corpus in-process, without the server's rests: the index a
    long-running node would have caught up to. Returns seconds."""
    search = Search(store, lambda: "prepare", workers=0)
    started = time.monotonic()
    while todo := await search.engine.stale(float("inf"), 1000):
        for doc_id in todo:
            await search.index(doc_id)
    return time.monotonic() - started


async def prepare(dialect: str, args: argparse.Namespace, work: Path, where: str) -> dict[str, Any]:
    """Generate the corpus and build its index in ``work``, unless a run with the same
    ``--docs`` already did (``ready.json``): with ``--corpus-dir`` this is done once,
    niced, outside the benchmark lock, and every measured run reuses it."""
    ready = work / "ready.json"
    if ready.exists():
        info: dict[str, Any] = json.loads(ready.read_text())
        if info["docs"] == args.docs:
            return info
        raise RuntimeError(f"{work} holds a corpus of {info['docs']} documents")
    store: Any = PostgresStore(where) if dialect == "postgres" else SQLiteStore(work / "data")
    await store.open()
    try:
        gen_s, text_bytes = await write_corpus(store, args.docs, Corpus())
        print(
            f"[{dialect}] corpus: {args.docs} docs, {text_bytes / 1e6:.0f} MB in {gen_s:.0f}s",
            flush=True,
        )
        build = await build_index(store)
    finally:
        await store.close()
    db = DB(dialect, where)
    await db.open()
    try:
        index_bytes, indexed_text = await db.sizes()
    finally:
        await db.close()
    info = {
        "docs": args.docs, "text_mb": text_bytes / 1e6, "gen_s": gen_s, "build_s": build,
        "build_docs_per_s": args.docs / build, "index_bytes": index_bytes,
        "indexed_text_bytes": indexed_text,
    }  # fmt: skip
    print(
        f"[{dialect}] index built in-process in {build:.0f}s ({args.docs / build:.0f}/s);"
        f" index/text {index_bytes / max(1, indexed_text):.2f}x",
        flush=True,
    )
    ready.write_text(json.dumps(info))
    return info


async def run_store(
    dialect: str, args: argparse.Namespace, work: Path, keep: bool
) -> dict[str, Any]:
    corpus = Corpus()
    pg: PostgresServer | None = None
    url = None
    (work / "data").mkdir(parents=True, exist_ok=True)
    if dialect == "postgres":
        pg = postgres_in(work if keep else None)
        pg.start()
        url = pg.database_url("bench_search")
        if not (work / "ready.json").exists():
            pg.create_database("bench_search")
        where = url
    else:
        where = str(work / "data" / "draftroom.sqlite3")
    try:
        info = await prepare(dialect, args, work, where)
        if args.prepare:
            return {"store": dialect, **info}
        return await measure(dialect, args, work, where, url, info, corpus)
    finally:
        if pg is not None:
            if keep:
                pg.stop()
            else:
                pg.cleanup()


async def measure(
    dialect: str,
    args: argparse.Namespace,
    work: Path,
    where: str,
    url: str | None,
    info: dict[str, Any],
    corpus: Corpus,
) -> dict[str, Any]:
    db = DB(dialect, where)
    await db.open()
    result: dict[str, Any] = {"store": dialect, **info}
    qs = [q for group in queries(corpus).values() for q in group]
    try:
        for indexing in (True, False):
            port = common.free_port()
            extra = ["--api-rate-per-minute", "100000000"]
            if not indexing:
                extra.append("--no-search-indexing")
            server = common.draftroom_server(
                port=port, data_dir=work / "data", log_dir=work / "logs", database_url=url,
                extra=extra,
            )  # fmt: skip
            server.start()
            base = f"http://127.0.0.1:{port}"
            try:
                if indexing:  # catch up on the edits of earlier runs' phases
                    t = time.monotonic()
                    while (left := await db.behind()) > 0:
                        await asyncio.sleep(1)
                        if time.monotonic() - t > args.index_timeout:
                            raise RuntimeError(f"index catch-up: {left} documents left")
                    result["catch_up_s"] = time.monotonic() - t
                run = await load(
                    base,
                    args.writers,
                    args.searchers,
                    args.seconds,
                    args.docs,
                    qs,
                    indexing,
                    args.think,
                )
                result["on" if indexing else "off"] = run
                print(
                    f"[{dialect}] indexing {'on' if indexing else 'off'}: {json.dumps(run)}",
                    flush=True,
                )
                if indexing:
                    words = queries(corpus)["word"]
                    result["quiet"] = await quiet_queries(base, db, words)
                    print(f"[{dialect}] quiet: {json.dumps(result['quiet'])}", flush=True)
            finally:
                server.stop()
    finally:
        await db.close()
    return result


def verdicts(results: list[dict[str, Any]], writers: int) -> list[str]:
    failures = []
    for r in results:
        s = r["store"]
        on, off = r.get("on"), r.get("off")
        if not on or not off:
            failures.append(f"{s}: a load phase did not run")
            continue
        for phase, run in (("on", on), ("off", off)):
            failures += common.load_failures(
                f"{s} indexing {phase}", wanted=writers, connected=run["connected"],
                measured=run["ack_ms"]["n"], errors_total=sum(run["errors"].values()),
                errors=run["errors"],
            )  # fmt: skip
        if not on["search_ms"]["p99"] < 50:
            failures.append(f"{s}: search p99 {on['search_ms']['p99']:.1f} ms >= 50 ms")
        if not on["fresh_s"]["p99"] < 2:
            failures.append(f"{s}: freshness p99 {on['fresh_s']['p99']:.2f} s >= 2 s")
        if not on["ack_ms"]["p99"] <= 1.10 * off["ack_ms"]["p99"]:
            failures.append(
                f"{s}: save-ack p99 {on['ack_ms']['p99']:.1f} ms with indexing vs"
                f" {off['ack_ms']['p99']:.1f} ms without (> +10%)"
            )
    return failures


def report(results: list[dict[str, Any]], args: argparse.Namespace) -> str:
    rows = []
    for r in results:
        on, off, quiet = r["on"], r["off"], r["quiet"]
        rows.append([
            r["store"], fmt(r["docs"], 0), fmt(r["text_mb"], 0),
            f"{fmt(r['build_s'], 0)} s ({fmt(r['build_docs_per_s'], 0)}/s)",
            f"{r['index_bytes'] / r['indexed_text_bytes']:.2f}x",
            fmt(on["search_ms"]["p50"]), fmt(on["search_ms"]["p99"]),
            fmt(on["fresh_s"]["p50"], 2), fmt(on["fresh_s"]["p99"], 2),
            fmt(on["ack_ms"]["p99"]), fmt(off["ack_ms"]["p99"]),
            f"{fmt(quiet['indexed_ms']['p50'])} / {fmt(quiet['naive_ms']['p50'])}",
        ])  # fmt: skip
    head = [
        "store", "docs", "text MB", "index build", "index/text", "search p50 ms",
        "search p99 ms", "fresh p50 s", "fresh p99 s", "ack p99 ms (indexing)",
        "ack p99 ms (off)", "quiet word query: index / naive scan ms (p50)",
    ]  # fmt: skip
    info = common.machine_line(common.machine_info())
    info += f"; load average at the end {os.getloadavg()[0]:.1f} (shared machine)"
    return (
        f"{info}\n`bench/search.py --docs {args.docs} --writers {args.writers} --searchers"
        f" {args.searchers} --seconds {args.seconds:g} --think {args.think:g}`\n\n"
        + markdown_table(head, rows)
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--writers", type=int, default=200)
    parser.add_argument("--searchers", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument(
        "--think", type=float, default=1.0, help="a searcher's pause between queries (s)"
    )
    parser.add_argument("--store", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--index-timeout", type=float, default=3600)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--corpus-dir",
        type=Path,
        default=None,
        help="keep the corpus and its index here (per store) and reuse them in later runs",
    )
    parser.add_argument(
        "--prepare",
        action="store_true",
        help="only generate the corpus and build its index (run niced, outside the lock)",
    )
    args = parser.parse_args()
    common.install_signal_handlers()
    stores = ["sqlite", "postgres"] if args.store == "both" else [args.store]
    results, failures = [], []
    for dialect in stores:
        keep = args.corpus_dir is not None
        if args.corpus_dir is not None:
            work = args.corpus_dir / f"{dialect}-{args.docs}"
            work.mkdir(parents=True, exist_ok=True)
        else:
            work = Path(tempfile.mkdtemp(prefix=f"bench-search-{dialect}-"))
        try:
            results.append(asyncio.run(run_store(dialect, args, work, keep)))
        except Exception as exc:  # a broken phase is a failed benchmark, with its reason
            failures.append(f"{dialect}: {type(exc).__name__}: {exc}")
        finally:
            if not keep:
                shutil.rmtree(work, ignore_errors=True)
    if args.prepare:
        print(json.dumps(results))
        return common.exit_status(failures)
    failures += verdicts(results, args.writers)
    complete = [r for r in results if "on" in r and "off" in r and "quiet" in r]
    if complete:
        print(report(complete, args))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return common.exit_status(failures)


if __name__ == "__main__":
    sys.exit(main())
