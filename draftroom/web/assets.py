"""The built app on disk: which files exist, their precompressed twins and SRI hashes.

Read once when the server starts. Only names found in ``dist/assets`` at that moment
can be served, so no request path ever reaches the file system: there is nothing to
traverse. Vite names every asset after a hash of its content, which is what makes the
year-long ``immutable`` caching of ``/assets/*`` safe.
"""

from __future__ import annotations

import base64
import hashlib
import json
import mimetypes
from dataclasses import dataclass, field
from pathlib import Path

DIST = Path(__file__).parent / "dist"

# Cheapest first is not the point: brotli is smaller, so prefer it when accepted.
ENCODINGS = (("br", ".br"), ("gzip", ".gz"))

TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".woff2": "font/woff2",
    ".json": "application/json",
}


@dataclass(frozen=True)
class Asset:
    path: Path
    content_type: str
    integrity: str  # "sha384-…" of the uncompressed bytes, for <script integrity>
    encoded: dict[str, Path] = field(default_factory=dict)  # "br"/"gzip" -> file

    def choose(self, accept_encoding: str) -> tuple[Path, str | None]:
        """The file to send for this Accept-Encoding, and its Content-Encoding."""
        accepted = _accepted(accept_encoding)
        for coding, _ in ENCODINGS:
            if coding in accepted and coding in self.encoded:
                return self.encoded[coding], coding
        return self.path, None


def _accepted(header: str) -> set[str]:
    codings = set()
    for part in header.split(","):
        name, _, params = part.strip().partition(";")
        q = params.strip()
        if q.replace(" ", "") in ("q=0", "q=0.0", "q=0.00", "q=0.000"):
            continue
        if name.strip():
            codings.add(name.strip().lower())
    return codings


def integrity(data: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()


# The route module whose chunks an editor page preloads (Vite's manifest key).
EDITOR_MODULE = "src/editor.ts"


@dataclass(frozen=True)
class Build:
    index_html: str | None  # None when the app has not been built
    assets: dict[str, Asset]  # by name under /assets/
    # Chunks of the editor route (names under /assets/): index.html for /d/... links
    # them as modulepreload, so they download with the entry instead of after it.
    editor_chunks: tuple[str, ...] = ()

    @property
    def built(self) -> bool:
        return self.index_html is not None


def load(dist: Path = DIST) -> Build:
    index = dist / "index.html"
    if not index.is_file():
        return Build(None, {})
    assets: dict[str, Asset] = {}
    folder = dist / "assets"
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        if not path.is_file() or path.suffix in (".br", ".gz"):
            continue
        encoded = {
            coding: twin
            for coding, suffix in ENCODINGS
            if (twin := path.with_name(path.name + suffix)).is_file()
        }
        kind = TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0]
        assets[path.name] = Asset(
            path, kind or "application/octet-stream", integrity(path.read_bytes()), encoded
        )
    return Build(index.read_text(encoding="utf-8"), assets, _chunks(dist, EDITOR_MODULE))


def _chunks(dist: Path, module: str) -> tuple[str, ...]:
    """A dynamic entry's JS and the chunks it imports, from Vite's manifest (not the
    entry point's own file, which index.html loads anyway)."""
    path = dist / ".vite" / "manifest.json"
    if not path.is_file():
        return ()
    manifest = json.loads(path.read_text(encoding="utf-8"))
    out: list[str] = []
    todo = [module]
    while todo:
        entry = manifest.get(todo.pop(0), {})
        if entry.get("isEntry"):
            continue
        name = str(entry.get("file", "")).removeprefix("assets/")
        if name and name not in out:
            out.append(name)
            todo.extend(entry.get("imports", []))
    return tuple(out)
