"""Cross-site defences: the Origin allow-list and CSRF for cookie-authenticated writes.

Browsers attach cookies to cross-site requests and WebSocket handshakes, so any
request authenticated by the session cookie could have been forged by another
site. Two checks stop that:

* Origin: a browser always sends it on WebSocket handshakes and cross-site
  writes; it must be the server's own origin or in ``--allowed-origins``. Requests
  without one come from programs, which cannot ride a victim's cookies.
* CSRF token (double submit, bound to the session): a cookie-authenticated write
  must repeat the token from the ``draftroom_csrf`` cookie / login response in the
  ``X-CSRF-Token`` header, which another site can neither read nor set.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from draftroom.auth.tokens_util import csrf_token

SESSION_COOKIE = "draftroom_session"
CSRF_COOKIE = "draftroom_csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def parse_origins(setting: str) -> frozenset[str]:
    return frozenset(o.strip().rstrip("/").lower() for o in setting.split(",") if o.strip())


def origin_allowed(headers: Mapping[str, str], scheme: str, allowed: frozenset[str]) -> bool:
    origin = headers.get("origin")
    if origin is None:
        return True
    origin = origin.rstrip("/").lower()
    if origin in allowed:
        return True
    host = headers.get("host", "").lower()
    # The page's own server; ws(s) schemes map to http(s) origins.
    own_scheme = {"ws": "http", "wss": "https"}.get(scheme, scheme)
    return bool(host) and origin == f"{own_scheme}://{host}"


def csrf_ok(headers: Mapping[str, str], session_secret: str) -> bool:
    sent = headers.get(CSRF_HEADER, "")
    expected = csrf_token(session_secret).encode()
    return bool(sent) and hmac.compare_digest(sent.encode("utf-8", "replace"), expected)
