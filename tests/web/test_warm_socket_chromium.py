"""The editor's socket is opened by the entry script, while the editor's code is still
on its way, and the y-websocket provider takes that same socket over.

The editor chunk is held back by the test (Playwright request interception) so the order
is certain: before the change the page opened no socket until the chunk had arrived.
"""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from web.site import Site, sign_in

TIMEOUT = 10_000

# Counts the page's WebSockets and the frames each received (CDP init script: not
# subject to the page's CSP).
SOCKETS = """(() => {
  const seen = []
  window.__sockets = seen
  const Native = window.WebSocket
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args)
      const s = { url: String(args[0]), frames: 0 }
      seen.push(s)
      this.addEventListener('message', () => { s.frames++ })
    }
  }
})()"""


class HeldChunk:
    """Holds the editor chunk's requests until ``release``; later ones pass at once."""

    def __init__(self, page: Any) -> None:
        self.held: list[Any] = []
        self.released = False
        page.route(re.compile(r"/assets/editor-[^/]*\.js$"), self._route)

    def _route(self, route: Any) -> None:
        if self.released:
            route.continue_()
        else:
            self.held.append(route)

    def release(self) -> None:
        self.released = True
        for route in self.held:
            route.continue_()


def test_socket_connects_while_editor_code_downloads_and_is_reused(
    site: Site, browser: Any
) -> None:
    doc = site.create_doc("ann", "Warm")
    ctx = browser.new_context()
    try:
        sign_in(ctx, site, "ann")
        ctx.add_init_script(SOCKETS)
        page = ctx.new_page()
        chunk = HeldChunk(page)
        page.goto(f"{site.url}/d/{doc}", wait_until="domcontentloaded")
        # The socket is open and the server has answered (welcome, sync) although the
        # editor's code has not arrived.
        page.wait_for_function(
            "() => window.__sockets.length === 1 && window.__sockets[0].frames > 0",
            timeout=TIMEOUT,
        )
        assert chunk.held, "the editor chunk was requested"
        assert page.locator("#editor").count() == 0
        chunk.release()

        editor = page.locator("#editor .ProseMirror[contenteditable=true]")
        editor.wait_for(timeout=TIMEOUT)
        expect(page.locator("#role")).to_have_text("owner", timeout=TIMEOUT)
        editor.click()
        page.keyboard.type("Typed over the warm socket.")
        expect(page.locator("#save-status")).to_have_text("Saved", timeout=TIMEOUT)
        assert "Typed over the warm socket." in site.text(doc)
        # The provider adopted the socket the entry opened: no second connection.
        sockets = page.evaluate("() => window.__sockets")
        assert len(sockets) == 1, sockets
        assert sockets[0]["url"].endswith(f"/ws/{doc}?draftroom=1")
    finally:
        ctx.close()


def test_a_document_reopened_by_a_second_page_gets_the_text(site: Site, browser: Any) -> None:
    """Frames that arrived before the takeover (welcome, the server's sync step 1) are
    replayed to the provider: the role is known, the text arrives, saving works."""
    doc = site.create_doc("ann", "Replay")
    ctx = browser.new_context()
    try:
        sign_in(ctx, site, "ann")
        first = ctx.new_page()
        first.goto(f"{site.url}/d/{doc}")
        first.locator("#editor .ProseMirror[contenteditable=true]").click()
        first.keyboard.type("Already there.")
        expect(first.locator("#save-status")).to_have_text("Saved", timeout=TIMEOUT)
        first.close()

        ctx.add_init_script(SOCKETS)
        page = ctx.new_page()
        chunk = HeldChunk(page)
        page.goto(f"{site.url}/d/{doc}", wait_until="domcontentloaded")
        page.wait_for_function("() => window.__sockets[0]?.frames > 0", timeout=TIMEOUT)
        chunk.release()
        expect(page.locator("#editor")).to_contain_text("Already there.", timeout=TIMEOUT)
        expect(page.locator("#role")).to_have_text("owner", timeout=TIMEOUT)
        page.locator("#editor .ProseMirror[contenteditable=true]").press("End")
        page.keyboard.type(" And more.")
        expect(page.locator("#save-status")).to_have_text("Saved", timeout=TIMEOUT)
        assert "Already there. And more." in site.text(doc)
    finally:
        ctx.close()
