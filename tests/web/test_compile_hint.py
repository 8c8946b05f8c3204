"""The editor chunk carries V8's compile hint on its first line, in every encoding served.

`//# allFunctionsCalledOnLoad` (Chrome 136+) has V8 compile the whole file on the
streaming compiler's thread while it downloads; V8 reads it only at the top of the
file, and Vite writes its preload map above any banner, so web/vite.config.ts moves it
there. The other chunks stay lazily compiled (the list page and the panels are not on
the editor's path).
"""

from __future__ import annotations

import gzip

import brotli

from draftroom.web import assets
from web.site import build_web

HINT = b"//# allFunctionsCalledOnLoad\n"


def test_editor_chunk_starts_with_the_compile_hint() -> None:
    build_web()
    build = assets.load()
    editor = [n for n in build.editor_chunks if n.startswith("editor-")]
    assert len(editor) == 1, build.editor_chunks
    asset = build.assets[editor[0]]
    raw = asset.path.read_bytes()
    assert raw.startswith(HINT)
    assert raw.count(HINT) == 1
    assert brotli.decompress(asset.encoded["br"].read_bytes()) == raw
    assert gzip.decompress(asset.encoded["gzip"].read_bytes()) == raw


def test_other_chunks_have_no_hint() -> None:
    build_web()
    build = assets.load()
    others = [
        a for n, a in build.assets.items() if n.endswith(".js") and not n.startswith("editor-")
    ]
    assert others
    for asset in others:
        assert HINT not in asset.path.read_bytes(), asset.path.name
