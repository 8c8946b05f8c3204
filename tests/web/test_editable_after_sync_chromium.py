"""The editor turns editable once the document's text has arrived, not at `welcome`.

Keys typed between the two went into an empty page; when the text arrived, the Yjs merge
kept them, but the caret restored after it could land before the letters already typed
(a cold-load benchmark typing "Q8x" the moment the editor was editable got "8xQ"). The
test holds the server's sync frames back for a while (a WebSocket subclass installed
before the page's scripts, so `welcome` comes first) and looks at the editor the moment
it turns editable.
"""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from web.site import Site, sign_in

TIMEOUT = 10_000

# Frames of the sync protocol (first byte 0: sync steps and updates) reach the page's
# handler 1.5 s late, in order; `welcome` (type 100) and awareness pass at once.
SLOW_SYNC = """(() => {
  const Native = window.WebSocket
  window.WebSocket = class extends Native {
    set onmessage(handler) {
      super.onmessage = handler && ((event) => {
        const b = event.data instanceof ArrayBuffer ? new Uint8Array(event.data) : null
        if (b && b[0] === 0) setTimeout(() => handler.call(this, event), 1500)
        else handler.call(this, event)
      })
    }
    get onmessage() { return super.onmessage }
  }
})()"""

EDITABLE = "#editor .ProseMirror[contenteditable=true]"


def test_not_editable_until_the_text_has_arrived(site: Site, browser: Any) -> None:
    doc = site.create_doc("ann", "Late text")
    ctx = browser.new_context()
    try:
        sign_in(ctx, site, "ann")
        first = ctx.new_page()
        first.goto(f"{site.url}/d/{doc}")
        first.locator(EDITABLE).click()
        first.keyboard.type("Already there.")
        expect(first.locator("#save-status")).to_have_text("Saved", timeout=TIMEOUT)
        first.close()

        ctx.add_init_script(SLOW_SYNC)
        page = ctx.new_page()
        page.goto(f"{site.url}/d/{doc}")
        # `welcome` has come (the role is shown) while the text is held back: not editable.
        expect(page.locator("#role")).to_have_text("owner", timeout=TIMEOUT)
        assert page.locator(EDITABLE).count() == 0
        # The moment it turns editable, the text is there; typing at once lands after it.
        page.wait_for_selector(EDITABLE, timeout=TIMEOUT)
        assert "Already there." in page.locator("#editor").inner_text()
        page.locator(EDITABLE).press("End")
        page.keyboard.type(" Q8x")
        expect(page.locator("#save-status")).to_have_text("Saved", timeout=TIMEOUT)
        assert "Already there. Q8x" in site.text(doc)
    finally:
        ctx.close()
