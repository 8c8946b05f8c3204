"""How the node serves the app: caching headers, precompression, CSP, SRI, presence.

Runs against a small fake build in a temp folder (so the rules are tested exactly)
and against the real build (so Vite's output really has the shape the server expects).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import re
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import brotli
import httpx
import pytest
from starlette.applications import Starlette

from devtools.inprocess import make_settings
from draftroom.config import Settings
from draftroom.server.errors import EXCEPTION_HANDLERS
from draftroom.server.web_app import WebApp
from draftroom.web import assets
from web.site import build_web

JS = b"console.log('hello from the app');\n" * 40
INDEX = """<!doctype html><html><head>
<script type="module" crossorigin src="./assets/index-abc123.js"></script>
<link rel="stylesheet" crossorigin href="./assets/index-def456.css">
</head><body></body></html>"""


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    d = tmp_path / "dist"
    (d / "assets").mkdir(parents=True)
    (d / "index.html").write_text(INDEX)
    (d / "assets" / "index-abc123.js").write_bytes(JS)
    (d / "assets" / "index-abc123.js.br").write_bytes(brotli.compress(JS))
    (d / "assets" / "index-abc123.js.gz").write_bytes(gzip.compress(JS))
    (d / "assets" / "index-def456.css").write_bytes(b"body{color:red}")
    (d / "assets" / "editor-e1.js").write_bytes(b"export const editor = 1\n")
    (d / "assets" / "shared-s1.js").write_bytes(b"export const shared = 1\n")
    (d / ".vite").mkdir()
    (d / ".vite" / "manifest.json").write_text(
        json.dumps(
            {
                "index.html": {"file": "assets/index-abc123.js", "isEntry": True},
                "_shared.js": {"file": "assets/shared-s1.js"},
                "src/editor.ts": {
                    "file": "assets/editor-e1.js",
                    "isDynamicEntry": True,
                    "imports": ["index.html", "_shared.js"],
                },
            }
        )
    )
    return d


def _client(settings: Settings, dist: Path) -> httpx.AsyncClient:
    app = Starlette(
        routes=WebApp(settings, assets.load(dist)).routes(), exception_handlers=EXCEPTION_HANDLERS
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


@pytest.fixture
async def client(tmp_path: Path, dist: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(make_settings(tmp_path), dist) as c:
        yield c


def _sri(data: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()


async def test_index_is_revalidated_with_an_etag_and_a_strict_csp(
    client: httpx.AsyncClient,
) -> None:
    for path in ("/", "/login", "/d/some/doc"):
        r = await client.get(path)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        assert r.headers["cache-control"] == "no-cache"
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "object-src 'none'" in csp and "frame-ancestors 'none'" in csp
    etag = (await client.get("/")).headers["etag"]
    again = await client.get("/", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    other = await client.get("/", headers={"If-None-Match": '"stale"'})
    assert other.status_code == 200


async def test_index_links_assets_with_subresource_integrity(client: httpx.AsyncClient) -> None:
    html = (await client.get("/")).text
    assert f'src="/assets/index-abc123.js" integrity="{_sri(JS)}"' in html
    assert f'href="/assets/index-def456.css" integrity="{_sri(b"body{color:red}")}"' in html
    assert "./assets/" not in html


async def test_editor_pages_preload_the_editor_chunks(client: httpx.AsyncClient) -> None:
    editor = (await client.get("/d/chapter-1")).text
    for name in ("editor-e1.js", "shared-s1.js"):
        assert (
            f'<link rel="modulepreload" crossorigin href="/assets/{name}" integrity="sha384-'
            in editor
        )
    assert "modulepreload" not in (await client.get("/")).text  # the list needs none of it


async def test_asset_url_loads_assets_from_the_cdn_origin(tmp_path: Path, dist: Path) -> None:
    settings = replace(make_settings(tmp_path), asset_url="https://cdn.example.net/draftroom/")
    async with _client(settings, dist) as c:
        r = await c.get("/")
    assert (
        f'src="https://cdn.example.net/draftroom/assets/index-abc123.js" integrity="{_sri(JS)}"'
        in r.text
    )
    assert "script-src 'self' https://cdn.example.net" in r.headers["content-security-policy"]


@pytest.mark.parametrize(
    ("accept", "coding", "decode"),
    [
        ("gzip, deflate, br, zstd", "br", brotli.decompress),
        ("gzip", "gzip", gzip.decompress),
        ("br;q=0, gzip", "gzip", gzip.decompress),
        ("", None, bytes),
        ("identity", None, bytes),
    ],
)
async def test_assets_are_immutable_and_precompressed_by_accept_encoding(
    client: httpx.AsyncClient, accept: str, coding: str | None, decode: object
) -> None:
    # httpx would decode for us; ask for the raw bytes to see what was sent.
    req = client.build_request(
        "GET", "/assets/index-abc123.js", headers={"Accept-Encoding": accept}
    )
    r = await client.send(req, stream=True)
    raw = b"".join([chunk async for chunk in r.aiter_raw()])
    assert r.status_code == 200
    assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert r.headers["vary"] == "Accept-Encoding"
    assert r.headers["content-type"].startswith("text/javascript")
    assert r.headers.get("content-encoding") == coding
    assert decode(raw) == JS  # type: ignore[operator]


async def test_unknown_assets_are_a_json_404_and_never_touch_the_disk(
    client: httpx.AsyncClient,
) -> None:
    for path in ("/assets/nope.js", "/assets/..%2Findex.html", "/assets/index-abc123.js.br"):
        r = await client.get(path)
        assert r.status_code == 404, path
        assert r.json()["error"] == "not_found"


async def test_an_unbuilt_app_answers_503_with_a_hint(tmp_path: Path) -> None:
    async with _client(make_settings(tmp_path), tmp_path / "missing") as c:
        r = await c.get("/")
    assert r.status_code == 503 and r.json()["error"] == "web_not_built"


async def test_the_real_build_is_served_with_integrity_and_compression(tmp_path: Path) -> None:
    build_web()
    build = assets.load()
    assert build.built, "scripts/build-web produced no index.html"
    scripts = re.findall(
        r'src="/assets/([^"]+)" integrity="([^"]+)"',
        WebApp(make_settings(tmp_path), build).html or "",
    )
    assert scripts, "index.html links no script"
    for name, sri in scripts:
        asset = build.assets[name]
        assert sri == _sri(asset.path.read_bytes())
        assert set(asset.encoded) == {"br", "gzip"}
    assert build.editor_chunks and build.editor_chunks[0].startswith("editor-")
