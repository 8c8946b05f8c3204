"""Links are made as you type, and only from your own typing.

TipTap's Link extension turns a typed URL into a link once a space follows it. It
looks at every change to the document, remote ones included, so each open page
would link a URL that someone else (or an import) wrote: a viewer's page would then
make an edit the server must refuse, and every editor's page would send the same
link again. The app runs autolink on local edits only.
"""

from __future__ import annotations

from typing import Any

import httpx
from playwright.sync_api import expect

from web.site import Site, sign_in

TIMEOUT = 10_000


def _append_text(site: Site, doc: str, text: str) -> None:
    r = httpx.post(
        f"{site.url}/api/documents/{doc}/import",
        params={"mode": "append", "format": "txt"},
        content=text.encode(),
        headers={"Authorization": f"Bearer {site.token('ann')}"},
        timeout=30,
    )
    assert r.status_code == 200, r.text


def test_a_url_written_by_someone_else_is_not_linked_by_a_viewers_page(
    site: Site, browser: Any
) -> None:
    doc = site.create_doc("ann", "Links")
    site.share(doc, "vic", "viewer")
    ctx = browser.new_context()
    try:
        sign_in(ctx, site, "vic")
        vic = ctx.new_page()
        vic.goto(f"{site.url}/d/{doc}")
        expect(vic.locator("#role")).to_have_text("viewer", timeout=TIMEOUT)
        expect(vic.locator("#save-status")).to_have_text("Saved", timeout=TIMEOUT)

        _append_text(site, doc, "Read https://example.com/notes\n\nThen write.\n")
        expect(vic.locator("#editor")).to_contain_text("Then write.", timeout=TIMEOUT)
        vic.wait_for_timeout(500)  # an autolink edit and its refusal would be back by now
        status = vic.locator("#save-status")
        expect(status).to_have_text("Saved")
        expect(status).to_have_attribute("data-unsaved", "0")
        assert vic.locator("#editor a").count() == 0
    finally:
        ctx.close()


def test_a_url_typed_here_still_becomes_a_link(site: Site, browser: Any) -> None:
    doc = site.create_doc("ann", "Typed link")
    ctx = browser.new_context()
    try:
        sign_in(ctx, site, "ann")
        ann = ctx.new_page()
        ann.goto(f"{site.url}/d/{doc}")
        editor = ann.locator("#editor .ProseMirror[contenteditable=true]")
        editor.click()
        ann.keyboard.type("See https://example.com/a then")
        expect(ann.locator('#editor a[href="https://example.com/a"]')).to_have_count(
            1, timeout=TIMEOUT
        )
        expect(ann.locator("#save-status")).to_have_text("Saved", timeout=TIMEOUT)
        content = site.api("ann", "GET", f"/api/documents/{doc}/content").text
        assert "https://example.com/a" in content and '"link"' in content
    finally:
        ctx.close()
