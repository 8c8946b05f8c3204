"""``draftroom import`` against a real server: new documents, --into, and refusals."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import httpx

from devtools.inprocess import RunningServer, make_settings, running_server
from draftroom.document.load import load_doc
from draftroom.document.reader import read_document
from draftroom.document.tree import plain_text


async def run_cli(server: RunningServer, *args: str) -> tuple[int, str, str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "draftroom",
        "import",
        "--server",
        server.http,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def text_of(server: RunningServer, doc_id: str) -> str:
    loaded = await load_doc(server.hub.store, doc_id)
    return plain_text(read_document(loaded.doc, "").blocks)


async def test_cli_creates_appends_and_refuses(tmp_path: Path) -> None:
    md = tmp_path / "chapter.md"
    md.write_text("# One\n\nFirst.\n", encoding="utf-8")
    html = tmp_path / "two.html"
    html.write_text("<h1>Two</h1><p>Second.</p>", encoding="utf-8")
    legacy = tmp_path / "old.doc"
    legacy.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100)
    async with running_server(make_settings(tmp_path / "data")) as server:
        code, out, err = await run_cli(server, str(md), str(html))
        assert code == 0, err
        ids = out.split()
        assert len(ids) == 2
        assert await text_of(server, ids[0]) == "One\nFirst."
        async with httpx.AsyncClient(base_url=server.http) as http:
            meta = (await http.get(f"/api/documents/{ids[1]}")).json()
        assert meta["id"] == ids[1]

        code, out, err = await run_cli(server, "--into", ids[0], str(html))
        assert code == 0, err
        assert await text_of(server, ids[0]) == "One\nFirst.\nTwo\nSecond."

        code, out, err = await run_cli(server, "--into", ids[0], "--mode", "replace", str(md))
        assert code == 0, err
        assert await text_of(server, ids[0]) == "One\nFirst."

        code, out, err = await run_cli(server, "--into", ids[0], str(legacy))
        assert code == 1 and "legacy .doc" in err and "415" in err
        code, out, err = await run_cli(server, str(tmp_path / "missing.md"))
        assert code == 2 and "no such file" in err
        assert await text_of(server, ids[0]) == "One\nFirst."
