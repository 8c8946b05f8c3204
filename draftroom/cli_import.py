"""``draftroom import FILE… [--into DOC] [--mode M]``: bring files into a running server.

Unlike ``draftroom export``, this talks to the server over HTTP
(``POST /api/documents/{id}/import``) rather than writing to the store: an import
is an edit, and only the server's room can make it one that open editors merge
live and that other nodes hear about. The same access rules apply: a token
(``--token`` or ``DRAFTROOM_TOKEN``) unless the server allows anonymous local use.

Without ``--into`` each file becomes a new document (its id printed on stdout).
With ``--into DOC`` the first file replaces (``--mode replace``), is appended to
(``--mode append``, the default) or creates (``--mode create``) DOC, and every
further file is appended after it, in order. Any refusal stops the command with
the server's message and exit status 1; files already imported stay imported.
"""

from __future__ import annotations

import argparse
import os
import sys
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

MODES = ("create", "replace", "append")
FORMATS = ("docx", "md", "html", "txt")  # draftroom.imports.FORMATS, kept cheap


def add_parser(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "import", help="import DOCX, Markdown, HTML or text files into documents"
    )
    parser.add_argument("files", nargs="+", metavar="FILE", type=Path)
    parser.add_argument("--into", metavar="DOC", help="document id to import into")
    parser.add_argument("--mode", choices=MODES, help="for --into: create, replace or append")
    parser.add_argument("-f", "--format", choices=FORMATS, help="default: from the file name")
    parser.add_argument("--title", help="title of a created document (default: the file's)")
    parser.add_argument(
        "--server",
        default=os.environ.get("DRAFTROOM_URL", "http://127.0.0.1:8000"),
        help="server URL (env DRAFTROOM_URL; default http://127.0.0.1:8000)",
    )
    parser.add_argument("--token", help="API token (env DRAFTROOM_TOKEN)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per file")


def main(args: argparse.Namespace) -> int:
    import httpx

    if args.mode and not args.into:
        print("draftroom import: --mode needs --into DOC", file=sys.stderr)
        return 2
    for path in args.files:
        if not path.is_file():
            print(f"draftroom import: {path}: no such file", file=sys.stderr)
            return 2
    token = args.token or os.environ.get("DRAFTROOM_TOKEN")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    base = args.server.rstrip("/")
    with httpx.Client(base_url=base, headers=headers, timeout=args.timeout) as http:
        for n, path in enumerate(args.files):
            if args.into:
                doc_id = args.into
                mode = (args.mode or "append") if n == 0 else "append"
            else:
                doc_id, mode = uuid.uuid4().hex, "create"
            params = {"mode": mode, "filename": path.name}
            if args.format:
                params["format"] = args.format
            if args.title and mode == "create":
                params["title"] = args.title
            try:
                response = http.post(
                    f"/api/documents/{quote(doc_id, safe='/')}/import",
                    params=params,
                    content=path.read_bytes(),
                )
            except (httpx.HTTPError, OSError) as exc:
                print(f"draftroom import: {path}: {exc}", file=sys.stderr)
                return 1
            if response.status_code >= 400:
                print(f"draftroom import: {path}: {_message(response)}", file=sys.stderr)
                return 1
            answer = response.json()
            print(answer["id"])
            print(
                f"{path}: {answer['mode']} {answer['id']} ({answer['format']}, "
                f"{answer['blocks']} blocks, {answer['words']} words)",
                file=sys.stderr,
            )
    return 0


def _message(response: Any) -> str:
    try:
        body = response.json()
        return f"{body['message']} ({response.status_code} {body['error']})"
    except (ValueError, KeyError, TypeError):
        return f"HTTP {response.status_code}: {response.text[:200]}"
