"""A role changed while the document is open: editing turns on or off without a reload."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from web.site import Site, sign_in

TIMEOUT = 10_000


def test_editing_follows_a_role_change_without_a_reload(site: Site, browser: Any) -> None:
    doc = site.create_doc("ann", "Promotions")
    site.share(doc, "vic", "viewer")
    ctx = browser.new_context()
    try:
        sign_in(ctx, site, "vic")
        page = ctx.new_page()
        page.goto(f"{site.url}/d/{doc}")
        editor = page.locator("#editor .ProseMirror")
        expect(page.locator("#role")).to_have_text("viewer", timeout=TIMEOUT)
        expect(editor).to_have_attribute("contenteditable", "false")
        loads = page.evaluate("performance.getEntriesByType('navigation').length")

        site.share(doc, "vic", "editor")
        expect(page.locator("#role")).to_have_text("editor", timeout=TIMEOUT)
        expect(editor).to_have_attribute("contenteditable", "true")
        editor.click()
        page.keyboard.type("Promoted.")
        expect(page.locator("#save-status")).to_have_text("Saved", timeout=TIMEOUT)
        assert site.text(doc) == "Promoted."

        site.share(doc, "vic", "viewer")
        expect(page.locator("#role")).to_have_text("viewer", timeout=TIMEOUT)
        expect(editor).to_have_attribute("contenteditable", "false")
        editor.click()
        page.keyboard.type(" Demoted.")
        page.wait_for_timeout(300)
        expect(page.locator("#editor")).not_to_contain_text("Demoted")
        assert site.text(doc) == "Promoted."
        # The same page all along: no reload happened.
        assert page.evaluate("performance.getEntriesByType('navigation').length") == loads
        assert page.evaluate("window.draftroom.provider.wsconnected") is True
    finally:
        ctx.close()
