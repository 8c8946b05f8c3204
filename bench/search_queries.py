"""Search query latency per query class, on a quiet prepared corpus, both stores.

``bench/search.py`` measures search under editing load, where the machine's load
hides which queries are slow and why. This script times each class of query alone
(rare word, common word, two and three words, words in different chapters, prefixes,
phrases, negation, CJK, a title, a name), in-process through ``Search.search`` (rank,
page read and snippets: everything but HTTP), as a site admin (no access join) and
as a member of a quarter of the documents (the ``document_members`` join). With
``--explain`` it prints each statement's plan (PostgreSQL ``EXPLAIN (ANALYZE,
BUFFERS)``, SQLite ``EXPLAIN QUERY PLAN``) and its time, to see where a query goes.
Each class also gets the event loop's CPU per search (the calling thread's CPU time:
on SQLite a search runs on a reader thread and costs the loop only its hand-over).
``--by-query`` prints each query's times; ``--page N`` times the page after N pages
(reached through the cursors), since a phrase too common to rank costs each page the
scan up to its last hit.

The corpus is the one ``bench/search.py --prepare`` builds (``--corpus-dir``, per
store ``<store>-<docs>``). The script opens it as the server would, so a pending
migration is applied to it: point it at a copy you own. The reader's memberships
are added on the first run (idempotent).

Exits non-zero (``FAILED:`` lines) when a class's p99 misses ``--budget-ms``, when a
class that must find something finds nothing, or on any error.

    nice -n 15 .venv/bin/python bench/search.py --docs 20000 --corpus-dir /tmp/c --prepare
    flock /work/wt/_bench.lock .venv/bin/python bench/search_queries.py --docs 20000 \\
        --corpus-dir /tmp/c [--store sqlite|postgres] [--runs 5] [--explain]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

import common
import search_corpus
from common import fmt, markdown_table, percentiles
from search_corpus import NAMES, Corpus, postgres_in

from draftroom.auth.principal import Principal
from draftroom.search.service import Search
from draftroom.store.postgres import PostgresStore
from draftroom.store.sql import SQLiteInTransaction
from draftroom.store.sqlite import SQLiteStore

READER = "bench-query-reader"
MEMBER_EVERY = 4  # the reader is a member of every 4th document


def classes(corpus: Corpus, title: str) -> dict[str, tuple[list[str], bool]]:
    """Class -> (queries, whether each must find something). Words are Zipf-ranked,
    short first: ``w[0]`` is in nearly every section, ``w[15000]`` in a few documents.
    The ``load`` classes are ``bench/search.py``'s query mix, as its searchers send it.
    A trailing space makes the last word a whole word (not a prefix)."""
    w = corpus.words
    return {
        "rare word": ([f"{w[12000]} ", f"{w[15000]} ", f"{w[18000]} "], True),
        "common word": ([f"{w[0]} ", f"{w[3]} ", f"{w[20]} "], True),
        "name": ([f"{NAMES[100]} ", f"{NAMES[1500]} "], True),
        "two words": ([f"{w[300]} {w[2000]} ", f"{NAMES[3]} {w[1200]} ", f"{w[1]} {w[2]} "], True),
        "three words": ([f"{w[2]} {w[50]} {w[400]} ", f"{w[100]} {w[900]} {w[4000]} "], True),
        "two names": ([f"{NAMES[7]} {NAMES[2007 % len(NAMES)]} ", f"{NAMES[8]} {w[9000]} "], False),
        "prefix": ([w[3000][:4], w[0][:2], w[6000][:3], NAMES[444][:6].lower()], True),
        "phrase": (
            [f'"{w[0]} {w[1]}"', f'"{NAMES[5]} {w[0]}"', f'"{w[10]} {w[11]} {w[12]}"'],
            True,
        ),
        "negation": ([f"{w[900]} -{w[500]} ", f"{w[10]} -{w[11]} ", f"{w[2500]} -{w[40]} "], True),
        "cjk": (["北京 ", "東京は"], False),
        "title": ([title + " ", title.split()[0] + " "], True),
        **{f"load {kind}": (qs, True) for kind, qs in search_corpus.queries(corpus).items()},
    }


def admin() -> Principal:
    return Principal("bench-admin", "bench-admin", True, "session")


def member() -> Principal:
    return Principal(READER, READER, False, "session")


class Timed:
    """Wraps the store's SQL: the time of each statement of one search, and its plan."""

    def __init__(self, sql: Any, dialect: str) -> None:
        self.sql, self.dialect = sql, dialect
        self.calls: list[tuple[str, tuple[Any, ...], float]] = []

    async def fetch(self, query: str, *args: Any) -> Any:
        t = time.perf_counter()
        rows = await self.sql.fetch(query, *args)
        self.calls.append((query, args, (time.perf_counter() - t) * 1000))
        return rows

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sql, name)

    async def explain(self, query: str, args: tuple[Any, ...]) -> str:
        if self.dialect == "postgres":
            rows = await self.sql.fetch("EXPLAIN (ANALYZE, BUFFERS) " + query, *args)
            return "\n".join(r["QUERY PLAN"] for r in rows)
        rows = await self.sql.fetch("EXPLAIN QUERY PLAN " + query, *args)
        return "\n".join(str(r["detail"]) for r in rows)


async def grant(store: Any) -> None:
    ids = [r["id"] for r in await store.sql.fetch("SELECT id FROM documents ORDER BY id")]
    rows = [(doc_id, READER, "viewer", time.time()) for doc_id in ids[::MEMBER_EVERY]]
    await store.sql.executemany(
        "INSERT INTO document_members (doc_id, user_id, role, granted_at)"
        " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        rows,
    )


async def measure(store: Any, dialect: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    search = Search(store, lambda: "bench-queries", workers=0)
    # Searches read through ``reads`` (SQLite: the read-only connections; PostgreSQL:
    # the search pool): time the statements there. On SQLite a search runs as one job
    # on a reader, its statements through ``SQLiteInTransaction``: time them there, so
    # the search still takes the path the server takes.
    timed = Timed(search.engine.reads, dialect)
    if dialect == "sqlite":
        plain_fetch = SQLiteInTransaction.fetch

        async def timed_fetch(sql: SQLiteInTransaction, query: str, *a: Any) -> Any:
            t = time.perf_counter()
            rows = await plain_fetch(sql, query, *a)
            timed.calls.append((query, a, (time.perf_counter() - t) * 1000))
            return rows

        SQLiteInTransaction.fetch = timed_fetch  # type: ignore[method-assign,assignment]
    else:
        search.engine.reads = timed
    first = await store.sql.fetchrow("SELECT title FROM documents ORDER BY id LIMIT 1")
    title = str(first["title"])
    out = []
    for name, (queries, must_find) in classes(Corpus(), title).items():
        if args.only and not any(part in name for part in args.only.split(",")):
            continue
        for who, principal in (("admin", admin()), ("member", member())):
            times, rank_ms, hits, loop_ms = [], [], [], []
            per_query: dict[str, list[float]] = {q: [] for q in queries}
            cursors: dict[str, str | None] = {}
            for q in queries:  # one unmeasured run: the page cache, not the query, is cold
                cursors[q] = None
                for _ in range(args.page):  # and the cursor of the page to time
                    body = await search.search(principal, q, 20, cursors[q])
                    if body["next_cursor"] is None:
                        break
                    cursors[q] = body["next_cursor"]
            for _ in range(args.runs):
                for q in queries:
                    timed.calls.clear()
                    t, cpu = time.perf_counter(), time.thread_time()
                    found = await search.search(principal, q, 20, cursors[q])
                    times.append((time.perf_counter() - t) * 1000)
                    # This thread's CPU only: what the search cost the event loop,
                    # which in the server also runs the edit path.
                    loop_ms.append((time.thread_time() - cpu) * 1000)
                    per_query[q].append(times[-1])
                    rank_ms.append(sum(c[2] for c in timed.calls))
                    hits.append(len(found["results"]))
            if args.by_query:
                for q, qt in per_query.items():
                    print(
                        f"[{dialect}] {name} ({who}) {q!r}: p50 {percentiles(qt)['p50']:.1f}"
                        f" max {max(qt):.1f} ms",
                        flush=True,
                    )
            p = percentiles(times)
            out.append(
                {"store": dialect, "class": name, "reader": who, "n": len(times),
                 "p50": p["p50"], "p99": p["p99"], "max": max(times),
                 "rank_p50": percentiles(rank_ms)["p50"], "min_hits": min(hits),
                 "loop_cpu_p50": percentiles(loop_ms)["p50"],
                 "must_find": must_find and who == "admin"}
            )  # fmt: skip
            if args.explain and who == args.explain:
                for q in queries:
                    timed.calls.clear()
                    await search.search(principal, q, 20, None)
                    for sql, sql_args, ms in list(timed.calls):
                        print(f"--- [{dialect}] {name} {q!r} ({who}): {ms:.1f} ms\n{sql}")
                        print(await timed.explain(sql, sql_args), flush=True)
    return out


async def run_store(dialect: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    work = args.corpus_dir / f"{dialect}-{args.docs}"
    if not (work / "ready.json").exists():
        raise RuntimeError(f"no prepared corpus in {work} (bench/search.py --prepare)")
    pg = None
    if dialect == "postgres":
        pg = postgres_in(work)
        pg.start()
        store: Any = PostgresStore(pg.database_url("bench_search"))
    else:
        store = SQLiteStore(work / "data")
    try:
        await store.open()
        try:
            await grant(store)
            # What autovacuum would have done on a live server (the memberships are new).
            await store.sql.execute("VACUUM ANALYZE" if dialect == "postgres" else "ANALYZE")
            return await measure(store, dialect, args)
        finally:
            await store.close()
    finally:
        if pg is not None:
            pg.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--corpus-dir", type=Path, required=True)
    parser.add_argument("--store", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each query")
    parser.add_argument("--budget-ms", type=float, default=50.0, help="each class's p99")
    parser.add_argument(
        "--only",
        default=None,
        help="only the classes whose name has one of these (comma-separated)",
    )
    parser.add_argument(
        "--explain", choices=["admin", "member"], default=None, help="print the plans"
    )
    parser.add_argument("--by-query", action="store_true", help="print each query's times")
    parser.add_argument(
        "--page",
        type=int,
        default=0,
        help="time this page (0: the first) of each query, reached through the cursors"
        " (a query with fewer pages: its last page)",
    )
    args = parser.parse_args()
    common.install_signal_handlers()
    stores = ["sqlite", "postgres"] if args.store == "both" else [args.store]
    rows: list[dict[str, Any]] = []
    failures: list[str] = []
    for dialect in stores:
        try:
            rows += asyncio.run(run_store(dialect, args))
        except Exception as exc:  # a broken store is a failed benchmark, with its reason
            failures.append(f"{dialect}: {type(exc).__name__}: {exc}")
    for r in rows:
        where = f"{r['store']} {r['class']} ({r['reader']})"
        if r["p99"] > args.budget_ms:
            failures.append(f"{where}: p99 {r['p99']:.1f} ms > {args.budget_ms:.0f} ms")
        if r["must_find"] and r["min_hits"] == 0:
            failures.append(f"{where}: a query found nothing")
    print(
        f"{args.docs} documents, {args.runs} runs per query, load average"
        f" {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    table = [
        [r["store"], r["class"], r["reader"], r["n"], fmt(r["p50"]), fmt(r["p99"]),
         fmt(r["max"]), fmt(r["rank_p50"]), fmt(r["loop_cpu_p50"], 2), r["min_hits"]]
        for r in rows
    ]  # fmt: skip
    print(
        markdown_table(
            [
                "store",
                "class",
                "reader",
                "searches",
                "p50 ms",
                "p99 ms",
                "max ms",
                "SQL p50 ms",
                "event loop CPU p50 ms",
                "fewest hits",
            ],
            table,
        )
    )
    return common.exit_status(failures)


if __name__ == "__main__":
    sys.exit(main())
