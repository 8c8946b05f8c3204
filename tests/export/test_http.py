"""Export over HTTP and the CLI: real servers, real clients editing, real consumers.

Documents are written by DraftroomClient the way TipTap writes them (an XmlFragment
built by tests/export/builders.py) or as a plain Y.Text, acknowledged by the server,
then exported through the API and opened with python-docx, pdftotext, zipfile.
"""

from __future__ import annotations

import asyncio
import gc
import io
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import docx
import httpx
import pytest

from devtools.inprocess import RunningServer, make_settings, running_server
from draftroom.client import DraftroomClient
from draftroom.export.params import OptionError, parse_options
from draftroom.server.export_api import content_disposition
from export.builders import B, I, h, li, link, make_doc, ol, p, ul

TITLE = "Café 🚀 Chapter"
QUOTED = "Caf%C3%A9%20%F0%9F%9A%80%20Chapter"


def story_blocks(word: str = "Zürich") -> list[Any]:
    return [
        h(1, "Arrival"),
        p("It was a ", ("dark", B), " and ", ("stormy", I), f" night in {word} 🌧️."),
        ul(li("first point"), li("second point", ul(li("nested point")))),
        ol(3, li("third"), li("fourth")),
        p("See ", ("the map", link("https://example.com/map")), "."),
    ]


async def write_rich(server: RunningServer, doc_id: str, *blocks: Any) -> None:
    """Edit a document through a real WebSocket client and wait for the ack."""
    async with DraftroomClient(server.ws(doc_id)) as client:
        update = make_doc(*blocks).get_update()
        client.doc.apply_update(update)
        await client.wait_saved(client.send_update(update))


async def write_plain(server: RunningServer, doc_id: str, text: str) -> None:
    async with DraftroomClient(server.ws(doc_id)) as client:
        await client.wait_saved(client.insert(text))


async def create(http: httpx.AsyncClient, doc_id: str, title: str) -> None:
    response = await http.post("/api/documents", json={"id": doc_id, "title": title})
    assert response.status_code == 201, response.text


def pdf_text(data: bytes, tmp_path: Path) -> str:
    assert shutil.which("pdftotext"), "apt-get install poppler-utils"
    path = tmp_path / "out.pdf"
    path.write_bytes(data)
    done = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True
    )
    return done.stdout.decode()


@pytest.fixture(params=["sqlite", "postgres"])
async def server(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[RunningServer]:
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    async with running_server(make_settings(tmp_path, url)) as running:
        yield running


@pytest.fixture
async def sqlite_server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    async with running_server(make_settings(tmp_path, export_ttl_seconds=1.0)) as running:
        yield running


def http_client(server: RunningServer) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=server.http, timeout=120)


# -- one document, every format, both stores ------------------------------------------------


async def test_every_format_of_an_edited_document(server: RunningServer, tmp_path: Path) -> None:
    async with http_client(server) as http:
        await create(http, "story", TITLE)
        await write_rich(server, "story", *story_blocks())

        got = {}
        for fmt in ("md", "docx", "pdf", "html", "scriv"):
            response = await http.get(f"/api/documents/story/export/{fmt}")
            assert response.status_code == 200, response.text
            got[fmt] = response

    md = got["md"]
    assert md.headers["content-type"] == "text/markdown; charset=utf-8"
    # RFC 6266: an ASCII fallback, and the real name percent-encoded as UTF-8.
    assert md.headers["content-disposition"] == (
        f"attachment; filename=\"Cafe Chapter.md\"; filename*=UTF-8''{QUOTED}.md"
    )
    assert md.text.startswith(f"# {TITLE}\n")
    for piece in ("\n# Arrival\n", "**dark**", "*stormy*", "Zürich 🌧️", "  - nested point"):
        assert piece in md.text
    assert "3. third" in md.text and "[the map](https://example.com/map)" in md.text

    assert got["docx"].headers["content-type"] == (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    )
    assert f"filename*=UTF-8''{QUOTED}.docx" in got["docx"].headers["content-disposition"]
    word = docx.Document(io.BytesIO(got["docx"].content))
    paragraphs = [(para.style.name, para.text) for para in word.paragraphs if para.text]
    assert paragraphs[0] == ("Title", TITLE)
    assert ("Heading 1", "Arrival") in paragraphs
    assert ("List Bullet 2", "nested point") in paragraphs
    assert ("List Number", "third") in paragraphs
    assert any("Zürich 🌧️" in text for _, text in paragraphs)
    bold = [run.text for para in word.paragraphs for run in para.runs if run.bold]
    assert bold == ["dark"]
    assert word.core_properties.title == TITLE

    assert got["pdf"].headers["content-type"] == "application/pdf"
    text = " ".join(pdf_text(got["pdf"].content, tmp_path).split())
    assert text.index("Arrival") < text.index("stormy") < text.index("nested point")
    assert "Zürich" in text

    assert got["html"].headers["content-type"] == "text/html; charset=utf-8"
    assert "<strong>dark</strong>" in got["html"].text and "Zürich 🌧️" in got["html"].text

    assert got["scriv"].headers["content-type"] == "application/zip"
    assert got["scriv"].headers["content-disposition"].endswith(f"{QUOTED}.scriv.zip")
    with zipfile.ZipFile(io.BytesIO(got["scriv"].content)) as z:
        names = z.namelist()
        projects = [n for n in names if n.endswith(".scrivx")]
        assert len(projects) == 1 and projects[0].count("/") == 1
        assert any(n.endswith("/Files/version.txt") for n in names)
        rtf = [z.read(n) for n in names if n.endswith("/content.rtf")]
        assert rtf and all(r.startswith(b"{\\rtf1") for r in rtf)
        assert any(b"stormy" in r for r in rtf)


async def test_plain_text_documents_and_untitled_names(sqlite_server: RunningServer) -> None:
    await write_plain(sqlite_server, "notes/today", "first line\nsecond line ✓")
    async with http_client(sqlite_server) as http:
        response = await http.get("/api/documents/notes/today/export/md")
    assert response.status_code == 200, response.text
    assert response.text == "first line\n\nsecond line ✓\n"
    # No title: the file is named after the id, made safe ("/" is not a file name).
    assert response.headers["content-disposition"] == 'attachment; filename="notes today.md"'


# -- batches ----------------------------------------------------------------------------------


async def test_batch_zip_and_compiled_manuscript(sqlite_server: RunningServer) -> None:
    server = sqlite_server
    async with http_client(server) as http:
        for n, title in enumerate(["One", "Two", "One"], 1):
            await create(http, f"ch{n}", title)
            await write_rich(server, f"ch{n}", h(1, f"Heading {n}"), p(f"body {n} ", ("x", B)))

        async with http.stream(
            "POST", "/api/export", json={"documents": ["ch1", "ch2", "ch3"], "format": "md"}
        ) as response:
            assert response.status_code == 200
            # Streamed as it is built: no length known up front.
            assert "content-length" not in response.headers
            assert response.headers["content-type"] == "application/zip"
            assert response.headers["content-disposition"] == 'attachment; filename="export-md.zip"'
            body = b"".join([chunk async for chunk in response.aiter_bytes()])
        with zipfile.ZipFile(io.BytesIO(body)) as z:
            assert z.testzip() is None
            assert z.namelist() == ["One.md", "Two.md", "One (2).md"]
            assert z.read("One (2).md").decode() == "# One\n\n# Heading 3\n\nbody 3 **x**\n"

        response = await http.post(
            "/api/export",
            json={
                "documents": ["ch3", "ch1", "ch2"],
                "format": "docx",
                "mode": "compile",
                "options": {"title": "Whole Book", "author": "Ana Ñ", "page_size": "letter"},
            },
        )
        assert response.status_code == 200, response.text
        assert response.headers["content-disposition"] == 'attachment; filename="Whole Book.docx"'
        word = docx.Document(io.BytesIO(response.content))
        titles = [para for para in word.paragraphs if para.style.name == "Title"]
        assert [t.text for t in titles] == ["One", "One", "Two"]
        # Every document after the first starts on a new page.
        assert [bool(t.paragraph_format.page_break_before) for t in titles] == [False, True, True]
        assert word.core_properties.author == "Ana Ñ"
        assert word.core_properties.title == "Whole Book"
        assert round(word.sections[0].page_width.mm) == 216  # Letter


async def test_a_client_leaving_mid_zip_frees_its_slot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One export at a time: if the abandoned stream kept its slot, the next export hangs.
    settings = make_settings(tmp_path, export_max_jobs=1, export_workers=1)
    async with running_server(settings) as server, http_client(server) as http:
        ids = [f"d{n}" for n in range(6)]
        for doc_id in ids:
            await create(http, doc_id, doc_id)
            await write_rich(server, doc_id, *story_blocks(doc_id))
        async with http.stream(
            "POST", "/api/export", json={"documents": ids, "format": "docx"}
        ) as response:
            assert response.status_code == 200
            async for _ in response.aiter_raw():
                break  # hang up after the first bytes
        response = await asyncio.wait_for(http.get("/api/documents/d5/export/md"), 60)
        assert response.status_code == 200 and "d5" in response.text
        # The abandoned archive is finished on purpose, not left for the collector to
        # close on a stream that is already gone.
        unraisable: list[object] = []
        monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
        gc.collect()
        assert unraisable == []


async def test_job_reports_progress_to_collaborators(sqlite_server: RunningServer) -> None:
    server = sqlite_server
    ids = ["a", "b", "c"]
    async with http_client(server) as http:
        for doc_id in ids:
            await create(http, doc_id, doc_id.upper())
            await write_rich(server, doc_id, p(f"text of {doc_id}"))
        async with DraftroomClient(server.ws("b")) as watcher:
            response = await http.post(
                "/api/export/jobs", json={"documents": ids, "format": "docx", "mode": "zip"}
            )
            assert response.status_code == 202, response.text
            job = response.json()
            assert response.headers["location"] == f"/api/export/jobs/{job['id']}"
            assert job["total"] == 3 and job["state"] in ("queued", "running")

            for _ in range(600):  # bounded: 60 s
                status = (await http.get(f"/api/export/jobs/{job['id']}")).json()
                if status["state"] in ("done", "failed"):
                    break
                await asyncio.sleep(0.1)
            assert status["state"] == "done", status
            assert status["done"] == status["total"] == 3 and status["size_bytes"] > 0

            def progress() -> list[dict[str, Any]]:
                return [m for m in watcher.app_log if m.get("type") == "export.progress"]

            for _ in range(100):  # the final message may trail the status by a hop
                if any(m["state"] == "done" for m in progress()):
                    break
                await asyncio.sleep(0.05)
        # b's collaborators hear about b being exported, then the job ending.
        assert [(m["document"], m["done"], m["state"]) for m in progress()] == [
            ("b", 2, "running"),
            ("b", 3, "done"),
        ]
        assert all(m["job"] == job["id"] and m["total"] == 3 for m in progress())

        result = await http.get(f"/api/export/jobs/{job['id']}/result")
        assert result.status_code == 200
        assert result.headers["content-disposition"] == 'attachment; filename="export-docx.zip"'
        with zipfile.ZipFile(io.BytesIO(result.content)) as z:
            assert z.namelist() == ["A.docx", "B.docx", "C.docx"]
            text = [p.text for p in docx.Document(io.BytesIO(z.read("C.docx"))).paragraphs]
            assert "text of c" in text

        # Results expire (TTL 1 s here): the job and its file are gone.
        for _ in range(100):
            gone = await http.get(f"/api/export/jobs/{job['id']}")
            if gone.status_code == 404:
                break
            await asyncio.sleep(0.1)
        assert gone.status_code == 404 and gone.json()["error"] == "not_found"
        assert not list((server.hub.settings.data_dir / "exports").iterdir())


async def test_edits_keep_being_acknowledged_during_a_big_pdf_export(
    sqlite_server: RunningServer,
) -> None:
    server = sqlite_server
    paragraph = " ".join(["word"] * 100)
    blocks = [b for n in range(40) for b in (h(1, f"Part {n}"), *[p(paragraph)] * 10)]
    async with http_client(server) as http:
        await create(http, "big", "Big")
        await write_rich(server, "big", *blocks)  # 40,000 words
        response = await http.post(
            "/api/export/jobs", json={"documents": ["big"], "format": "pdf", "mode": "compile"}
        )
        job = response.json()
        acked_while_running = 0
        async with DraftroomClient(server.ws("typing")) as writer:
            for _ in range(5000):  # bounded
                state = (await http.get(f"/api/export/jobs/{job['id']}")).json()["state"]
                if state in ("done", "failed"):
                    break
                await writer.wait_saved(writer.insert("k"))
                acked_while_running += state == "running"
        assert state == "done"
        # PDF layout runs in a worker process: the event loop kept acknowledging edits.
        assert acked_while_running >= 20, acked_while_running
        result = await http.get(f"/api/export/jobs/{job['id']}/result")
        assert result.content.startswith(b"%PDF-")


# -- errors -----------------------------------------------------------------------------------


async def test_errors_are_json(sqlite_server: RunningServer) -> None:
    async with http_client(sqlite_server) as http:
        await create(http, "doc", "Doc")

        async def error(method: str, url: str, status: int, **kw: Any) -> dict[str, Any]:
            response = await http.request(method, url, **kw)
            assert response.status_code == status, response.text
            return response.json()

        assert (await error("GET", "/api/documents/doc/export/odt", 404))[
            "error"
        ] == "unknown_format"
        assert (await error("GET", "/api/documents/nope/export/md", 404))["error"] == "not_found"
        for query, needle in [
            ("page_size=A5", "page_size must be one of A4, Letter"),
            ("margins=wide", "margins must be a number"),
            ("margins=120", "between 0 and 80"),
            ("toc=maybe", "toc must be true or false"),
            ("theme=neon", "theme must be one of classic, modern"),
            ("colour=red", "unknown export option(s) colour"),
        ]:
            body = await error("GET", f"/api/documents/doc/export/pdf?{query}", 422)
            assert body["error"] == "invalid_option" and needle in body["message"], body

        for payload, code in [
            ({"documents": ["doc"], "format": "odt"}, "unknown_format"),
            ({"documents": [], "format": "md"}, "invalid_documents"),
            ({"documents": "doc", "format": "md"}, "invalid_documents"),
            ({"documents": ["../x"], "format": "md"}, "invalid_documents"),
            ({"documents": ["doc"], "format": "md", "mode": "tar"}, "invalid_mode"),
            (
                {"documents": ["doc"], "format": "md", "options": {"toc": "yes please"}},
                "invalid_option",
            ),
            ({"documents": ["doc"], "format": "md", "extra": 1}, "invalid"),
            ({"documents": ["doc", "doc"], "format": "md"}, "duplicate_documents"),
        ]:
            for url in ("/api/export", "/api/export/jobs"):
                assert (await error("POST", url, 422, json=payload))["error"] == code
        missing = await error(
            "POST", "/api/export", 404, json={"documents": ["doc", "gone"], "format": "md"}
        )
        assert missing["message"] == "no such document(s): gone"
        assert (await error("POST", "/api/export", 400, content=b"{nope"))[
            "error"
        ] == "invalid_json"
        assert (await error("GET", "/api/export/jobs/nope", 404))["error"] == "not_found"
        assert (await error("GET", "/api/export/jobs/nope/result", 404))["error"] == "not_found"


def test_option_parsing_and_content_disposition() -> None:
    opts = parse_options({"page_size": "letter", "margins": "12.5", "toc": "1", "author": "Å"})
    assert (opts.page_size, opts.margins_mm, opts.toc, opts.author) == ("Letter", 12.5, True, "Å")
    assert parse_options({"manuscript": True, "margins": 0}).manuscript is True
    for bad in ({"margins": True}, {"margins": "nan"}, {"author": 5}, {"title": "x" * 201}):
        with pytest.raises(OptionError):
            parse_options(bad)
    assert content_disposition("plain.md") == 'attachment; filename="plain.md"'
    # Quotes and backslashes cannot reach a download name at all (a path on Windows).
    assert content_disposition('a"b\\c.md') == 'attachment; filename="a b c.md"'
    assert content_disposition("日本.pdf") == (
        "attachment; filename=\"export.pdf\"; filename*=UTF-8''%E6%97%A5%E6%9C%AC.pdf"
    )


# -- CLI --------------------------------------------------------------------------------------


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "draftroom", "export", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_cli_round_trip(tmp_path: Path) -> None:
    data = tmp_path / "data"
    async with running_server(make_settings(data)) as server:
        async with http_client(server) as http:
            await create(http, "one", "First ✓")
            await create(http, "two", "Second")
        await write_rich(server, "one", *story_blocks())
        await write_plain(server, "two", "plain words")
    # The server is gone: the CLI reads the store itself.

    out = tmp_path / "book.md"
    done = await asyncio.to_thread(
        cli, "one", "two", "-f", "md", "--compile", "-o", str(out), "--data-dir", str(data)
    )
    assert done.returncode == 0, done.stderr
    text = out.read_text()
    assert (
        text.startswith("# First ✓\n") and "**dark**" in text and "# Second\n\nplain words" in text
    )

    done = await asyncio.to_thread(
        cli, "one", "two", "-f", "docx", "-o", str(tmp_path / "b.zip"), "--data-dir", str(data)
    )
    assert done.returncode == 0, done.stderr
    with zipfile.ZipFile(tmp_path / "b.zip") as z:
        assert z.namelist() == ["First ✓.docx", "Second.docx"]

    done = await asyncio.to_thread(cli, "two", "-f", "md", "-o", "-", "--data-dir", str(data))
    assert (done.returncode, done.stdout) == (0, "# Second\n\nplain words\n")

    done = await asyncio.to_thread(cli, "one", "missing", "-f", "md", "--data-dir", str(data))
    assert done.returncode == 1 and "no such document(s): missing" in done.stderr
    done = await asyncio.to_thread(
        cli, "one", "-f", "pdf", "--page-size", "A5", "--data-dir", str(data)
    )
    assert done.returncode == 2 and "page_size must be one of" in done.stderr
    # Failures leave no half-written files behind.
    assert sorted(await asyncio.to_thread(os.listdir, tmp_path)) == ["b.zip", "book.md", "data"]


async def test_one_user_cannot_fill_the_export_queue(tmp_path: Path) -> None:
    from auth.helpers import add_user, auth_server, bearer, login

    async with auth_server(tmp_path, export_max_jobs=1) as server:
        for name in ("ann", "bob"):
            await add_user(server.hub, name)
        async with http_client(server) as http:
            ann = bearer((await login(http, "ann"))["token"])
            bob = bearer((await login(http, "bob"))["token"])
            for doc_id, who in (("a1", ann), ("a2", ann), ("b1", bob)):
                r = await http.post("/api/documents", json={"id": doc_id}, headers=who)
                assert r.status_code == 201
            job = {"documents": ["a1", "a2"], "format": "pdf", "mode": "zip"}
            first = await http.post("/api/export/jobs", json=job, headers=ann)
            assert first.status_code == 202, first.text
            # Rendering a PDF in a fresh worker takes far longer than this next call.
            second = await http.post("/api/export/jobs", json=job, headers=ann)
            assert (second.status_code, second.json()["error"]) == (429, "rate_limited")
            assert int(second.headers["retry-after"]) >= 1
            # Others still get their turn in the queue.
            r = await http.post(
                "/api/export/jobs", json={"documents": ["b1"], "format": "md"}, headers=bob
            )
            assert r.status_code == 202, r.text
