"""A role changed while the document is open: editing turns on or off without a reload."""

from __future__ import annotations

import re
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


def test_edits_typed_while_a_demotion_is_on_its_way_are_kept(site: Site, browser: Any) -> None:
    """The server drops edits that arrive after the demotion; the page says they are not
    saved, and sends them again (a new connection's sync) once it may edit again."""
    doc = site.create_doc("ann", "Race")
    site.share(doc, "vic", "editor")
    held: list[tuple[Any, Any]] = []
    holding = [False]

    def through(ws: Any) -> None:
        # Frames from the page go on; the server's are held while `holding`, so the page
        # types before it hears of its demotion (a slow network, made certain).
        server = ws.connect_to_server()

        def down(message: Any) -> None:
            if holding[0]:
                held.append((ws, message))
            else:
                ws.send(message)

        server.on_message(down)

    ctx = browser.new_context()
    try:
        sign_in(ctx, site, "vic")
        page = ctx.new_page()
        page.route_web_socket(re.compile(r"/ws/"), through)
        page.goto(f"{site.url}/d/{doc}")
        status = page.locator("#save-status")
        editor = page.locator("#editor .ProseMirror")
        expect(page.locator("#role")).to_have_text("editor", timeout=TIMEOUT)
        editor.click()
        page.keyboard.type("Kept.")
        expect(status).to_have_text("Saved", timeout=TIMEOUT)

        holding[0] = True
        site.share(doc, "vic", "viewer")
        page.keyboard.type(" Late.")
        page.wait_for_timeout(500)  # the edits reach the server, which drops them
        assert site.text(doc) == "Kept."
        holding[0] = False
        for ws, message in held:
            ws.send(message)
        expect(page.locator("#role")).to_have_text("viewer", timeout=TIMEOUT)
        expect(status).to_have_text(
            re.compile(r"^\d+ edits? not saved: your role no longer lets you edit$"),
            timeout=TIMEOUT,
        )
        expect(editor).to_have_attribute("contenteditable", "false")

        site.share(doc, "vic", "editor")
        expect(page.locator("#role")).to_have_text("editor", timeout=TIMEOUT)
        expect(status).to_have_text("Saved", timeout=TIMEOUT)
        assert site.text(doc) == "Kept. Late."
    finally:
        ctx.close()
