"""The core writing experience in Chromium: log in, write together, read-only viewers,
offline edits, and a server crash under an open page.

What a test asserts is what a writer sees (the editor's text, the collaborator's caret
label, the save status) and, for durability, what the server has stored.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from web.site import Site, login, sign_in, start_site

TIMEOUT = 10_000


def open_doc(page: Any, site: Site, doc: str) -> None:
    page.goto(f"{site.url}/d/{doc}")
    page.wait_for_selector("#editor .ProseMirror")
    expect(page.locator("#save-status")).to_have_text("Saved", timeout=TIMEOUT)


def type_at_end(page: Any, text: str) -> None:
    editor = page.locator("#editor .ProseMirror")
    editor.click()
    page.keyboard.press("Control+End")
    page.keyboard.type(text)


def test_log_in_and_two_writers_see_each_others_text_and_caret(site: Site, browser: Any) -> None:
    ann_ctx, bob_ctx = browser.new_context(), browser.new_context()
    try:
        ann, bob = ann_ctx.new_page(), bob_ctx.new_page()
        login(ann, site, "ann")
        # Create the document from the list, as a writer does.
        ann.fill("#new-title", "Chapter one")
        ann.click("#create-form button[type=submit]")
        ann.wait_for_url(re.compile(r"/d/"))
        doc = ann.url.rsplit("/d/", 1)[1]
        expect(ann.locator("#doc-title")).to_have_text("Chapter one", timeout=TIMEOUT)
        expect(ann.locator("#role")).to_have_text("owner", timeout=TIMEOUT)
        site.share(doc, "bob", "editor")

        login(bob, site, "bob")
        expect(bob.locator(f'tr[data-id="{doc}"]')).to_be_visible()
        bob.click(f'tr[data-id="{doc}"] a.doc-link')
        bob.wait_for_selector("#editor .ProseMirror[contenteditable=true]")

        type_at_end(ann, "It was a dark night.")
        expect(bob.locator("#editor")).to_contain_text("It was a dark night.", timeout=TIMEOUT)
        type_at_end(bob, " Said Bob.")
        expect(ann.locator("#editor")).to_contain_text("Said Bob.", timeout=TIMEOUT)

        # Each sees the other's named caret and the other in the presence list.
        expect(ann.locator(".collaboration-carets__label", has_text="bob")).to_be_visible()
        expect(bob.locator(".collaboration-carets__label", has_text="ann")).to_be_visible()
        expect(ann.locator("#presence")).to_contain_text("bob")
        expect(ann.locator("#save-status")).to_have_text("Saved", timeout=TIMEOUT)
        expect(bob.locator("#save-status")).to_have_text("Saved", timeout=TIMEOUT)
        expect(ann.locator("#word-count")).to_have_text("7 words", timeout=TIMEOUT)
        assert site.text(doc) == "It was a dark night. Said Bob."
    finally:
        ann_ctx.close()
        bob_ctx.close()


def test_a_viewer_cannot_type(site: Site, browser: Any) -> None:
    doc = site.create_doc("ann", "Read me")
    site.share(doc, "vic", "viewer")
    ctx = browser.new_context()
    try:
        ann_ctx = browser.new_context()
        sign_in(ann_ctx, site, "ann")
        ann = ann_ctx.new_page()
        open_doc(ann, site, doc)
        type_at_end(ann, "Only the owner writes.")
        expect(ann.locator("#save-status")).to_have_text("Saved", timeout=TIMEOUT)

        sign_in(ctx, site, "vic")
        vic = ctx.new_page()
        vic.goto(f"{site.url}/d/{doc}")
        expect(vic.locator("#role")).to_have_text("viewer", timeout=TIMEOUT)
        expect(vic.locator("#editor")).to_contain_text("Only the owner writes.")
        editor = vic.locator("#editor .ProseMirror")
        expect(editor).to_have_attribute("contenteditable", "false")
        editor.click()
        vic.keyboard.type("graffiti")
        vic.wait_for_timeout(300)
        expect(vic.locator("#editor")).not_to_contain_text("graffiti")
        assert "graffiti" not in site.text(doc)
        ann_ctx.close()
    finally:
        ctx.close()


def test_offline_edits_are_kept_and_synced(site: Site, browser: Any) -> None:
    doc = site.create_doc("ann", "Offline")
    site.share(doc, "bob", "editor")
    ann_ctx, bob_ctx = browser.new_context(), browser.new_context()
    try:
        sign_in(ann_ctx, site, "ann")
        sign_in(bob_ctx, site, "bob")
        ann, bob = ann_ctx.new_page(), bob_ctx.new_page()
        open_doc(ann, site, doc)
        open_doc(bob, site, doc)
        type_at_end(ann, "Online first.")
        expect(bob.locator("#editor")).to_contain_text("Online first.", timeout=TIMEOUT)

        ann_ctx.set_offline(True)
        expect(ann.locator("#save-status")).to_have_text(re.compile("^Offline"), timeout=TIMEOUT)
        type_at_end(ann, " Written on a train.")
        expect(ann.locator("#save-status")).to_have_text(
            re.compile(r"^Offline — \d+ edits? not yet saved$")
        )
        assert "train" not in site.text(doc)

        ann_ctx.set_offline(False)
        expect(ann.locator("#save-status")).to_have_text("Saved", timeout=TIMEOUT * 2)
        expect(bob.locator("#editor")).to_contain_text("Written on a train.", timeout=TIMEOUT)
        assert site.text(doc) == "Online first. Written on a train."
    finally:
        ann_ctx.close()
        bob_ctx.close()


def test_the_page_survives_kill_9_and_loses_no_acknowledged_edit(
    browser: Any, tmp_path: Path
) -> None:
    site = start_site(tmp_path, users=("ann",))
    try:
        doc = site.create_doc("ann", "Crash")
        ctx = browser.new_context()
        sign_in(ctx, site, "ann")
        page = ctx.new_page()
        open_doc(page, site, doc)
        type_at_end(page, "Saved before the crash.")
        expect(page.locator("#save-status")).to_have_text("Saved", timeout=TIMEOUT)

        site.proc.kill9()
        expect(page.locator("#save-status")).to_have_text(re.compile("^Offline"), timeout=TIMEOUT)
        type_at_end(page, " Typed while it was down.")
        expect(page.locator("#save-status")).to_contain_text("not yet saved")

        site.proc.start()
        expect(page.locator("#save-status")).to_have_text("Saved", timeout=TIMEOUT * 2)
        site.tokens.clear()  # sessions live in the store: the old one is still valid
        assert site.text(doc) == "Saved before the crash. Typed while it was down."

        # A fresh page sees every acknowledged edit.
        fresh = ctx.new_page()
        open_doc(fresh, site, doc)
        expect(fresh.locator("#editor")).to_contain_text(
            "Saved before the crash. Typed while it was down."
        )
        ctx.close()
    finally:
        site.proc.cleanup()
