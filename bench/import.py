"""Import benchmark: a 150,000-word novel as DOCX and as Markdown, brought back in.

    .venv/bin/python bench/import.py                 # 3 runs per format, Markdown table
    .venv/bin/python bench/import.py --runs 5 --formats docx
    .venv/bin/python bench/import.py --api          # through a real server (SQLite), end to end

The novel is the export benchmark's (40 chapters: headings, bold/italic runs, lists,
quotes, scene breaks), exported once to each format. Each run is a fresh process
that imports the file as the server does: parse it (``draftroom.imports.parse_file``)
and build the Yjs update that goes into the room (``document.build``), timed
together; its peak RSS is the process's. Libraries are imported before the clock
starts, as they are in a running server. Exits 1 when any run misses a target
(< 3 s, < 500 MB).
"""

from __future__ import annotations

import argparse
import json
import resource
import runpy
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TARGET_S = 3.0
PEAK_MB = 500


def run_one(fmt: str, path: str) -> dict[str, float]:
    """Child process: import one file, report seconds and peak RSS."""
    import docx  # noqa: F401 - loaded before the clock, as in a running server
    import markdown_it  # noqa: F401

    from draftroom.document.build import build_update
    from draftroom.document.tree import plain_text
    from draftroom.imports import ImportLimits, parse_file

    data = Path(path).read_bytes()
    t0 = time.perf_counter()
    document = parse_file(data, fmt, ImportLimits())
    t_parse = time.perf_counter() - t0
    update = build_update(document)
    total = time.perf_counter() - t0
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "parse_s": t_parse,
        "build_s": total - t_parse,
        "total_s": total,
        "peak_mb": peak_kb / 1024,
        "blocks": len(document.blocks),
        "words": len(plain_text(document.blocks).split()),
        "update_mb": len(update) / 1e6,
    }


def make_files(words: int, chapters: int, out: Path) -> dict[str, Path]:
    # The export benchmark's novel, so the two benchmarks measure the same book.
    build_novel = runpy.run_path(str(Path(__file__).with_name("export.py")))["build_novel"]
    from draftroom.document.reader import read_update
    from draftroom.export import export_documents

    novel = read_update(build_novel(words, chapters).get_update(), "Novel")
    files = {}
    for fmt in ("docx", "md"):
        path = out / f"novel.{fmt}"
        path.write_bytes(export_documents([novel], fmt))
        files[fmt] = path
    return files


async def api_run(files: dict[str, Path], formats: list[str], runs: int) -> list[str]:
    """POST each file to an in-process server: the answer comes once the edit is saved."""
    import httpx
    import psutil

    from devtools.inprocess import make_settings, running_server

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-import-api-") as data:
        async with running_server(make_settings(Path(data))) as server:
            process = psutil.Process()
            async with httpx.AsyncClient(base_url=server.http, timeout=120) as http:
                for fmt in formats:
                    body = files[fmt].read_bytes()
                    for n in range(runs):
                        before = process.memory_info().rss
                        t0 = time.perf_counter()
                        response = await http.post(
                            f"/api/documents/novel-{fmt}-{n}/import?format={fmt}", content=body
                        )
                        took = time.perf_counter() - t0
                        response.raise_for_status()
                        rss = process.memory_info().rss / 1e6
                        rows.append((fmt, took, rss, (process.memory_info().rss - before) / 1e6))
    print("| format | POST to saved answer s | server RSS after MB |")
    print("|---|---:|---:|")
    for fmt, took, rss, _grew in rows:
        print(f"| {fmt} | {took:.2f} | {rss:.0f} |")
    return [
        f"{fmt}: {took:.2f} s through the server (target < {TARGET_S:g} s)"
        for fmt, took, rss, _ in rows
        if took >= TARGET_S
    ] + [f"{fmt}: server RSS {rss:.0f} MB" for fmt, _, rss, _ in rows if rss >= PEAK_MB]


def failures(rows: dict[str, list[dict[str, Any]]]) -> list[str]:
    out = []
    for fmt, runs in rows.items():
        if not runs:
            out.append(f"{fmt}: did not run")
        for n, r in enumerate(runs, 1):
            if r["total_s"] >= TARGET_S:
                out.append(f"{fmt} run {n}: {r['total_s']:.2f} s (target < {TARGET_S:g} s)")
            if r["peak_mb"] >= PEAK_MB:
                out.append(f"{fmt} run {n}: peak RSS {r['peak_mb']:.0f} MB (< {PEAK_MB} MB)")
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--words", type=int, default=150_000)
    parser.add_argument("--chapters", type=int, default=40)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--formats", default="docx,md")
    parser.add_argument("--api", action="store_true", help="through an in-process server")
    parser.add_argument("--child", nargs=2, metavar=("FMT", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_one(*args.child)))
        return 0
    rows: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        files = make_files(args.words, args.chapters, Path(tmp))
        if args.api:
            import asyncio

            missed = asyncio.run(api_run(files, args.formats.split(","), args.runs))
            for reason in missed:
                print(f"FAILED: {reason}", file=sys.stderr)
            return 1 if missed else 0
        for fmt in args.formats.split(","):
            size = files[fmt].stat().st_size
            print(f"{fmt}: {size / 1e6:.2f} MB file", file=sys.stderr)
            rows[fmt] = []
            for _ in range(args.runs):
                done = subprocess.run(
                    [sys.executable, __file__, "--child", fmt, str(files[fmt])],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                result = json.loads(done.stdout.strip().splitlines()[-1])
                result["file_mb"] = size / 1e6
                rows[fmt].append(result)
                print(f"  {result}", file=sys.stderr)
    print("| format | file MB | parse s | build s | total s (min / median / max) | peak MB | ok |")
    print("|---|---:|---:|---:|---|---:|---|")
    for fmt, runs in rows.items():
        totals = [r["total_s"] for r in runs]
        ok = max(totals) < TARGET_S and max(r["peak_mb"] for r in runs) < PEAK_MB
        print(
            f"| {fmt} | {runs[0]['file_mb']:.2f} "
            f"| {statistics.median(r['parse_s'] for r in runs):.2f} "
            f"| {statistics.median(r['build_s'] for r in runs):.2f} "
            f"| {min(totals):.2f} / {statistics.median(totals):.2f} / {max(totals):.2f} "
            f"| {max(r['peak_mb'] for r in runs):.0f} | {'yes' if ok else 'NO'} |"
        )
    reasons = failures(rows)
    for reason in reasons:
        print(f"FAILED: {reason}", file=sys.stderr)
    return 1 if reasons else 0


if __name__ == "__main__":
    sys.exit(main())
