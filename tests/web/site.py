"""Helpers of the browser tests: a real server with accounts, and logging in.

Browser tests of the web app use Debian's chromium through Python Playwright.

Browsers are never downloaded: Playwright drives ``/usr/bin/chromium`` (apt package
``chromium``; scripts/test installs it). The app is built first (scripts/build-web is
a no-op when web/ has not changed), then served by a real ``draftroom serve`` process
with real accounts: everything a writer does goes through the same HTTP, cookies,
CSRF and WebSocket paths as in production.
"""

from __future__ import annotations

import fcntl
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from devtools.draftroom import DraftroomProcess

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
PASSWORD = "correct horse battery"
USERS = ("ann", "bob", "vic", "dee")


def build_web() -> None:
    # Each xdist worker with browser tests calls this; two builds at once (when web/ has
    # changed) would write the same dist/ together. The lock is on a tracked file, opened
    # read-only: no lock file is left behind.
    with open(ROOT / "web" / "package.json", "rb") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        subprocess.run([str(ROOT / "scripts" / "build-web")], check=True, capture_output=True)


class Site:
    """A running server plus API helpers acting as one of its users."""

    def __init__(self, proc: DraftroomProcess) -> None:
        self.proc = proc
        self.tokens: dict[str, str] = {}

    @property
    def url(self) -> str:
        return self.proc.http_url

    def token(self, user: str) -> str:
        if user not in self.tokens:
            r = httpx.post(
                f"{self.url}/api/sessions", json={"username": user, "password": PASSWORD}
            )
            r.raise_for_status()
            self.tokens[user] = r.json()["token"]
        return self.tokens[user]

    def api(self, user: str, method: str, path: str, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token(user)}"}
        return httpx.request(method, f"{self.url}{path}", headers=headers, timeout=30, **kw)

    def create_doc(self, owner: str, title: str = "") -> str:
        r = self.api(owner, "POST", "/api/documents", json={"title": title})
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    def share(self, doc: str, user: str, role: str) -> None:
        r = self.api("ann", "PUT", f"/api/documents/{doc}/members/{user}", json={"role": role})
        assert r.status_code == 200, r.text

    def text(self, doc: str, user: str = "ann") -> str:
        r = self.api(user, "GET", f"/api/documents/{doc}/content")
        r.raise_for_status()
        body = r.json()
        return _text(body["prosemirror"]) if "prosemirror" in body else str(body.get("text", ""))


def _text(node: Any) -> str:
    if isinstance(node, dict):
        if node.get("type") == "text":
            return str(node.get("text", ""))
        sep = "\n" if node.get("type") == "doc" else ""
        return sep.join(_text(c) for c in node.get("content", []))
    if isinstance(node, list):
        return "".join(_text(c) for c in node)
    return str(node or "")


def start_site(tmp: Path, *extra: str, users: tuple[str, ...] = USERS) -> Site:
    """A fresh data dir, an admin made with the CLI, then ``users`` made over HTTP."""
    data = tmp / "data"
    data.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "draftroom", "user", "create", "admin", "--admin",
         "--password-stdin", "--new-store", "--data-dir", str(data)],
        input=PASSWORD + "\n", text=True, check=True, capture_output=True, cwd=tmp,
    )  # fmt: skip
    proc = DraftroomProcess(
        ["--login-rate-per-minute", "1000", "--login-ip-rate-per-minute", "1000", *extra],
        data_dir=data,
        log_dir=tmp / "logs",
    ).start()
    site = Site(proc)
    for user in users:
        r = site.api("admin", "POST", "/api/users", json={"username": user, "password": PASSWORD})
        assert r.status_code == 201, r.text
    return site


def login(page: Any, site: Site, user: str) -> None:
    """Log in through the form, as a writer would."""
    page.goto(f"{site.url}/login")
    page.fill("#username", user)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("#list-title")


def sign_in(context: Any, site: Site, user: str) -> None:
    """A session made over the API, put in the browser context's cookies: for tests
    about something else than the login form (which ``login`` and the first tests use)."""
    r = httpx.post(f"{site.url}/api/sessions", json={"username": user, "password": PASSWORD})
    r.raise_for_status()
    context.add_cookies(
        [{"name": name, "value": value, "url": site.url} for name, value in r.cookies.items()]
    )
