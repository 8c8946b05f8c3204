"""``draftroom export DOC… --format F -o PATH``: export straight from the store.

No server is needed: the command opens the same store the server uses (SQLite in
``--data-dir`` or ``--database-url``) and renders through the same service as the
HTTP API, so files and names are identical. One document (or ``--compile``) makes
one file; several documents make a ZIP with one file per document.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from draftroom.config import settings_from


def add_parser(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "export", help="export documents from the store to md, docx, pdf, html, scriv, …"
    )
    parser.add_argument("documents", nargs="+", metavar="DOC", help="document ids, in order")
    # Checked against the format registry in main(), after parsing: loading the
    # writers here would make every ``draftroom`` command pay for python-docx.
    parser.add_argument(
        "-f", "--format", required=True, help="md, docx, pdf, html, scriv or a plugin's format"
    )
    parser.add_argument(
        "-o", "--output", metavar="PATH", help="file to write ('-' for stdout; default: its name)"
    )
    parser.add_argument(
        "--compile", action="store_true", help="one manuscript of all documents, not a ZIP"
    )
    parser.add_argument("--page-size", help="A4 or Letter (DOCX, PDF, HTML)")
    parser.add_argument("--margins", help="page margins in millimetres")
    parser.add_argument("--manuscript", action="store_true", help="standard manuscript format")
    parser.add_argument("--theme", help="classic or modern (PDF, HTML)")
    parser.add_argument("--toc", action="store_true", help="table of contents (PDF, HTML)")
    parser.add_argument("--split-scenes", action="store_true", help="Scrivener: a text per heading")
    parser.add_argument("--author", help="author name for document properties")
    parser.add_argument("--title", help="title of the compiled work")
    parser.add_argument(
        "--data-dir", type=Path, help="SQLite store directory (env DRAFTROOM_DATA_DIR)"
    )
    parser.add_argument(
        "--database-url", help="postgresql://… store instead of SQLite (env DRAFTROOM_DATABASE_URL)"
    )
    parser.add_argument("--export-workers", type=int, help="worker processes (default 2)")


def main(args: argparse.Namespace) -> int:
    from draftroom.export.formats import known_formats
    from draftroom.export.params import OptionError, parse_options

    known = known_formats()
    if args.format not in known:
        print(
            f"draftroom export: argument -f/--format: invalid choice: {args.format!r} "
            f"(choose from {', '.join(known)})",
            file=sys.stderr,
        )
        return 2
    try:
        settings = settings_from(
            {
                "data_dir": args.data_dir,
                "database_url": args.database_url,
                "export_workers": args.export_workers,
            }
        )
        options = parse_options(
            {
                "page_size": args.page_size,
                "margins": args.margins,
                "theme": args.theme,
                "author": args.author,
                "title": args.title,
                # Flags only switch features on; absent means the default.
                "manuscript": args.manuscript or None,
                "toc": args.toc or None,
                "split_scenes": args.split_scenes or None,
            }
        )
    except (ValueError, OptionError) as exc:
        print(f"draftroom export: {exc}", file=sys.stderr)
        return 2
    from draftroom.cli_store import missing_store

    if problem := missing_store(settings):
        print(f"draftroom export: {problem}", file=sys.stderr)
        return 1
    try:
        return asyncio.run(_export(settings, options, args))
    except Exception as exc:  # the store is unreachable, a render failed, ...
        print(f"draftroom export: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


async def _export(settings: Any, options: Any, args: argparse.Namespace) -> int:
    from draftroom.export.jobs import ExportService, MissingDocuments, output_for
    from draftroom.store import store_for

    store = store_for(settings)
    await store.open()
    service = ExportService(settings, store, lambda doc_id, message: None)
    try:
        try:
            metas = await service.documents(args.documents)
        except MissingDocuments as exc:
            print(f"draftroom export: {exc}", file=sys.stderr)
            return 1
        mode = "compile" if args.compile or len(metas) == 1 else "zip"
        output = output_for(metas, args.format, mode, options)
        chunks = service.stream(metas, args.format, mode, options)
        if args.output == "-":
            async for chunk in chunks:
                sys.stdout.buffer.write(chunk)
            sys.stdout.buffer.flush()
            return 0
        target = Path(args.output or output.filename)
        # Write beside the target, then rename: a failed export leaves no half file.
        fd, tmp = tempfile.mkstemp(dir=target.parent or Path("."), prefix=".draftroom-export-")
        try:
            with os.fdopen(fd, "wb") as out:
                async for chunk in chunks:
                    out.write(chunk)
            os.replace(tmp, target)
        except BaseException:
            await asyncio.to_thread(Path(tmp).unlink, missing_ok=True)
            raise
        print(target, file=sys.stderr)
        return 0
    finally:
        await service.close()
        await store.close()
