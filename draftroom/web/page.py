"""``index.html`` as served: asset links rewritten, Subresource Integrity, CSP, ETag.

Vite builds with a relative base (``./assets/…``) so that code-split chunks are
fetched relative to the module that imports them; that one choice lets the same
build run from the node or from a CDN. The server rewrites the links in
``index.html`` to ``/assets/…`` or to ``--asset-url``'s origin, and adds an
``integrity`` hash to each so a tampered CDN copy is refused by the browser.

The Content-Security-Policy allows no inline script at all: the page has none.
Styles come only from files too (the editor's collaborator colours are set through
the CSSOM, which CSP does not govern).
"""

from __future__ import annotations

import hashlib
import re
from urllib.parse import urlsplit

from draftroom.web.assets import Build

_LINK = re.compile(r'(src|href)="\./assets/([^"]+)"')


def asset_prefix(asset_url: str | None) -> str:
    return (asset_url or "").rstrip("/") + "/assets/"


def render(build: Build, asset_url: str | None, preload: tuple[str, ...] = ()) -> str:
    """index.html with its links pointed at ``asset_url`` (or /assets/) and hashed;
    ``preload``: more chunks to fetch at once (``<link rel=modulepreload>``)."""
    assert build.index_html is not None
    prefix = asset_prefix(asset_url)

    def sri(name: str) -> str:
        asset = build.assets.get(name)
        return f' integrity="{asset.integrity}"' if asset is not None else ""

    def link(m: re.Match[str]) -> str:
        attr, name = m.group(1), m.group(2)
        return f'{attr}="{prefix}{name}"{sri(name)}'

    html = _LINK.sub(link, build.index_html)
    links = "".join(
        f'<link rel="modulepreload" crossorigin href="{prefix}{name}"{sri(name)}>\n'
        for name in preload
        if name in build.assets
    )
    return html.replace("</head>", links + "</head>", 1) if links else html


def content_security_policy(asset_url: str | None) -> str:
    sources = "'self'"
    if asset_url:
        parts = urlsplit(asset_url)
        sources += f" {parts.scheme}://{parts.netloc}"
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src {sources}",
            f"style-src {sources}",
            f"font-src {sources}",
            "img-src 'self' data:",
            # 'self' covers same-origin ws:/wss: in CSP Level 3 browsers.
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def etag(html: str) -> str:
    return '"' + hashlib.sha256(html.encode()).hexdigest()[:32] + '"'
