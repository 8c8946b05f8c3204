"""Export benchmark: a 150,000-word novel in every format, plus a 100-document ZIP.

    .venv/bin/python bench/export.py            # prints a Markdown table
    .venv/bin/python bench/export.py --api      # 100 documents as a ZIP through the HTTP API
                                                # of a real server, with edit-ack latency

Each format runs in a fresh subprocess so that its peak RSS is its own.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pycrdt import Doc, XmlElement, XmlFragment, XmlText

from draftroom.export import ExportOptions, export_documents, read_update, write_zip

TARGETS = {"docx": 5.0, "md": 1.0, "scriv": 3.0, "pdf": 30.0, "html": None, "zip100": None}
PEAK_MB = 500
VOCAB = (
    "the a of and to in was he she it that his her with as for had on at by but not they "
    "from said all were there one would light road night river house window letter door "
    "quiet long small old morning voice again never still hands eyes sea town winter café "
    "naïve Zürich señor déjà vu 😀 silence remembered whispered turned walked across over"
).split()


def build_novel(words: int, chapters: int, seed: int = 7) -> Doc:
    rng = random.Random(seed)
    doc: Doc[Any] = Doc()
    fragment = doc.get("default", type=XmlFragment)
    per_chapter = words // chapters
    with doc.transaction():
        for n in range(1, chapters + 1):
            _block(fragment, "heading", [(f"Chapter {n}", None)], {"level": 1})
            written = 2
            k = 0
            while written < per_chapter:
                k += 1
                count = min(rng.randint(40, 120), per_chapter - written)
                written += count
                runs = _runs(rng, count)
                if k % 17 == 0:
                    fragment.children.append(XmlElement("horizontalRule"))
                if k % 23 == 0:
                    quote = XmlElement("blockquote")
                    fragment.children.append(quote)
                    _block(quote, "paragraph", runs)
                elif k % 29 == 0:
                    lst = XmlElement("bulletList")
                    fragment.children.append(lst)
                    for i in range(0, len(runs), 3):
                        item = XmlElement("listItem")
                        lst.children.append(item)
                        _block(item, "paragraph", runs[i : i + 3])
                else:
                    _block(fragment, "paragraph", runs)
    return doc


def _runs(rng: random.Random, count: int) -> list[tuple[str, dict | None]]:
    runs: list[tuple[str, dict | None]] = []
    left = count
    while left > 0:
        size = min(left, rng.randint(3, 25))
        left -= size
        text = " ".join(rng.choice(VOCAB) for _ in range(size)) + " "
        roll = rng.random()
        attrs: dict[str, Any] | None = (
            {"bold": {}} if roll < 0.1 else {"italic": {}} if roll < 0.2 else None
        )
        runs.append((text, attrs))
    return runs


def _block(parent, tag: str, runs, attrs: dict | None = None) -> None:  # type: ignore[no-untyped-def]
    element = XmlElement(tag)
    parent.children.append(element)
    for key, value in (attrs or {}).items():
        element.attributes[key] = value
    text = XmlText()
    element.children.append(text)
    pos = 0
    for chunk, marks in runs:
        text.insert(pos, chunk, marks)
        pos += len(chunk.encode("utf-8"))  # pycrdt XmlText offsets are UTF-8 bytes


def run_one(fmt: str, state_path: str, out_dir: str) -> dict[str, float]:
    """Child process: read the CRDT state, export, report time and peak RSS."""
    state = Path(state_path).read_bytes()
    t0 = time.perf_counter()
    options = ExportOptions(author="Bench", toc=True)
    if fmt == "zip100":
        novel = read_update(state, "Novel")
        # 100 documents of ~1,500 words each, cut from the novel's blocks.
        per = max(len(novel.blocks) // 100, 1)
        docs = [
            type(novel)(f"Document {i}", novel.blocks[i * per : (i + 1) * per]) for i in range(100)
        ]
        t_read = time.perf_counter() - t0
        with open(os.path.join(out_dir, "batch.zip"), "wb") as out:
            size = write_zip(docs, "docx", out, options)
    else:
        novel = read_update(state, "Novel")
        t_read = time.perf_counter() - t0
        data = export_documents([novel], fmt, options)
        size = len(data)
        Path(out_dir, f"novel.{fmt}").write_bytes(data)
    total = time.perf_counter() - t0
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"read_s": t_read, "export_s": total - t_read, "peak_mb": peak_kb / 1024, "bytes": size}


def failures(rows: list[tuple[str, dict[str, Any]]], wanted: list[str]) -> list[str]:
    """Why the export run misses its targets: a format that did not run, one over its time
    target, or one over the memory ceiling."""
    out = [f"{fmt}: did not run" for fmt in wanted if fmt not in {f for f, _ in rows}]
    for fmt, r in rows:
        target = TARGETS.get(fmt)
        if target is not None and r["export_s"] >= target:
            out.append(f"{fmt}: export took {r['export_s']:.2f} s (target < {target:g} s)")
        if r["peak_mb"] >= PEAK_MB:
            out.append(f"{fmt}: peak RSS {r['peak_mb']:.0f} MB (ceiling {PEAK_MB} MB)")
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--words", type=int, default=150_000)
    parser.add_argument("--chapters", type=int, default=40)
    parser.add_argument("--formats", default="md,html,docx,scriv,pdf,zip100")
    parser.add_argument(
        "--api", action="store_true", help="batch export through a server; ack latency beside it"
    )
    parser.add_argument("--api-format", default="docx", help="format of the --api batch")
    parser.add_argument("--child", nargs=3, metavar=("FMT", "STATE", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_one(*args.child)))
        return 0
    if args.api:
        import asyncio

        from export_api_bench import api_bench

        asyncio.run(api_bench(args.words // 100, args.api_format, build_novel))
        return 0

    t0 = time.perf_counter()
    novel = build_novel(args.words, args.chapters)
    state = novel.get_update()
    print(
        f"built {args.words:,}-word pycrdt doc in {time.perf_counter() - t0:.1f} s "
        f"({len(state) / 1e6:.1f} MB state)",
        file=sys.stderr,
    )
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        state_path = os.path.join(tmp, "novel.ystate")
        Path(state_path).write_bytes(state)
        formats = args.formats.split(",")
        for fmt in formats:
            done = subprocess.run(
                [sys.executable, __file__, "--child", fmt, state_path, tmp],
                capture_output=True,
                text=True,
                check=True,
            )
            result = json.loads(done.stdout.strip().splitlines()[-1])
            rows.append((fmt, result))
            print(f"{fmt}: {result}", file=sys.stderr)
    print("| format | read (s) | export (s) | peak RSS (MB) | output | target | ok |")
    print("|---|---:|---:|---:|---:|---|---|")
    for fmt, r in rows:
        target = TARGETS.get(fmt)
        ok = (target is None or r["export_s"] < target) and r["peak_mb"] < PEAK_MB
        label = f"< {target:g} s, < {PEAK_MB} MB" if target else f"< {PEAK_MB} MB"
        print(
            f"| {fmt} | {r['read_s']:.2f} | {r['export_s']:.2f} | {r['peak_mb']:.0f} | "
            f"{r['bytes'] / 1e6:.1f} MB | {label} | {'yes' if ok else 'NO'} |"
        )
    reasons = failures(rows, formats)
    for reason in reasons:
        print(f"FAILED: {reason}", file=sys.stderr)
    return 1 if reasons else 0


if __name__ == "__main__":
    sys.exit(main())
