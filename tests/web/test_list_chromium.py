"""The document list: presence per document, sorting across pages, the rename and share
dialogs, batch export progress."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from web.site import Site, sign_in

TIMEOUT = 10_000
AXE = Path(__file__).resolve().parents[2] / "web" / "node_modules" / "axe-core" / "axe.min.js"


def test_the_list_shows_who_is_in_each_document_now(site: Site, browser: Any) -> None:
    doc = site.create_doc("ann", "Busy")
    site.share(doc, "bob", "editor")
    ann_ctx, bob_ctx = browser.new_context(), browser.new_context()
    try:
        sign_in(ann_ctx, site, "ann")
        ann = ann_ctx.new_page()
        ann.goto(f"{site.url}/d/{doc}")
        expect(ann.locator("#save-status")).to_have_text("Saved", timeout=TIMEOUT)

        r = site.api("bob", "GET", f"/api/presence?ids={doc}")
        assert r.status_code == 200 and [p["name"] for p in r.json()["presence"][doc]] == ["ann"]
        assert site.api("vic", "GET", f"/api/presence?ids={doc}").status_code == 403
        too_many = ",".join(f"d{i}" for i in range(101))
        r = site.api("bob", "GET", f"/api/presence?ids={too_many}")
        assert r.status_code == 422 and r.json()["error"] == "too_many_ids"

        sign_in(bob_ctx, site, "bob")
        bob = bob_ctx.new_page()
        bob.goto(site.url)
        expect(bob.locator(f'tr[data-id="{doc}"] td.here')).to_have_text("ann", timeout=TIMEOUT)
    finally:
        ann_ctx.close()
        bob_ctx.close()


def test_rename_paginate_and_batch_export_with_progress(site: Site, browser: Any) -> None:
    # dee's documents are only this test's: the pages hold exactly what it made.
    ids = [site.create_doc("dee", f"Part {i:02d}") for i in range(22)]
    ctx = browser.new_context(accept_downloads=True)
    try:
        sign_in(ctx, site, "dee")
        page = ctx.new_page()
        page.goto(site.url)
        expect(page.locator("#docs tr")).to_have_count(20)
        expect(page.locator("#prev")).to_be_disabled()
        page.click("#next")
        expect(page.locator("#docs tr")).to_have_count(2)
        page.click("#prev")
        # The server sorts, so the order holds across pages (not only within one).
        links = page.locator("#docs a.doc-link")
        page.select_option("#sort", "title:asc")
        expect(links).to_have_text([f"Part {i:02d}" for i in range(20)])
        page.click("#next")
        expect(links).to_have_text(["Part 20", "Part 21"])
        page.select_option("#sort", "title:desc")  # back to the first page
        expect(links).to_have_text([f"Part {i:02d}" for i in range(21, 1, -1)])
        expect(page.locator("#prev")).to_be_disabled()
        page.select_option("#sort", "created_at:asc")
        expect(links.first).to_have_text("Part 00")
        page.select_option("#sort", "title:asc")
        expect(links.first).to_have_text("Part 00")

        shown = page.locator("#docs tr").evaluate_all("rows => rows.map(r => r.dataset.id)")
        assert shown[:2] == ids[:2]

        for doc in shown[:3]:
            page.check(f'tr[data-id="{doc}"] input[type=checkbox]')
        page.click(".batch summary")
        page.select_option("#batch-format", "md")
        page.click("#batch-export")
        expect(page.locator("#batch-result")).to_be_visible(timeout=TIMEOUT * 2)
        expect(page.locator("#batch-progress")).to_have_attribute("value", "3")
        with page.expect_download() as info:
            page.click("#batch-result")
        assert info.value.suggested_filename.endswith(".zip")
    finally:
        ctx.close()


def test_rename_and_share_in_dialogs_with_errors_shown_in_place(site: Site, browser: Any) -> None:
    doc = site.create_doc("ann", "Dialog draft")
    ctx = browser.new_context(bypass_csp=True)  # for axe-core only
    try:
        sign_in(ctx, site, "ann")
        page = ctx.new_page()
        page.on("dialog", lambda d: pytest.fail(f"a browser popup appeared: {d.message}"))
        page.goto(site.url)
        row = page.locator(f'tr[data-id="{doc}"]')
        rename = row.locator('button:text("Rename")')
        dialog = page.locator("dialog[open]")

        # Escape closes without a change, and the focus goes back to the button.
        rename.click()
        expect(dialog).to_be_visible()
        expect(page.locator("#rename-title")).to_be_focused()
        expect(page.locator("#rename-title")).to_have_value("Dialog draft")
        page.keyboard.press("Escape")
        expect(dialog).to_have_count(0)
        expect(rename).to_be_focused()

        # Tab stays inside the dialog.
        rename.click()
        for _ in range(5):
            page.keyboard.press("Tab")
            assert page.evaluate("!!document.activeElement.closest('dialog')")
        page.locator("#rename-title").fill("Dialog final")
        page.keyboard.press("Enter")
        expect(dialog).to_have_count(0)
        expect(row.locator("a.doc-link")).to_have_text("Dialog final")
        # The rename reloaded the list; the focus is on the new row's button.
        expect(rename).to_be_focused()
        assert site.api("ann", "GET", f"/api/documents/{doc}").json()["title"] == "Dialog final"

        # Sharing with nobody: the server's message, inside the dialog, which stays open.
        share = row.locator('button:text("Share")')
        share.click()
        expect(page.locator("#share-user")).to_be_focused()
        page.locator("#share-user").fill("nobody-at-all")
        page.locator("dialog button[type=submit]").click()
        expect(dialog.locator("[role=alert]")).to_have_text("no such user")
        expect(dialog).to_be_visible()
        page.add_script_tag(path=str(AXE))
        found = json.loads(page.evaluate("async () => JSON.stringify(await axe.run(document))"))
        bad = [v["id"] for v in found["violations"] if v["impact"] in ("serious", "critical")]
        assert not bad, bad
        page.locator("#share-user").fill("bob")
        page.select_option("#share-role", "viewer")
        page.locator("dialog button[type=submit]").click()
        expect(dialog).to_have_count(0)
        expect(share).to_be_focused()
        members = site.api("ann", "GET", f"/api/documents/{doc}/members").json()["members"]
        assert {m["user"]: m["role"] for m in members}["bob"] == "viewer"
        # The list refreshes who is where every 5 s; that must not take the focus away.
        with page.expect_response(lambda r: "/api/presence" in r.url, timeout=10_000):
            pass
        page.wait_for_timeout(200)
        expect(share).to_be_focused()
    finally:
        ctx.close()


def test_share_and_delete_are_offered_only_to_owners(site: Site, browser: Any) -> None:
    doc = site.create_doc("ann", "Whose to share")
    site.share(doc, "bob", "viewer")
    site.share(doc, "vic", "editor")
    ctx = {who: browser.new_context() for who in ("ann", "bob", "vic")}
    try:
        shown: dict[str, list[str]] = {}
        for who, context in ctx.items():
            sign_in(context, site, who)
            page = context.new_page()
            page.goto(site.url)
            row = page.locator(f'tr[data-id="{doc}"]')
            expect(row.locator("a.doc-link")).to_have_text("Whose to share", timeout=TIMEOUT)
            shown[who] = row.locator("td.actions button").all_text_contents()
        assert shown == {
            "ann": ["Rename", "Share", "Delete"],
            "bob": [],  # a viewer may only read (and open) it
            "vic": ["Rename"],
        }
    finally:
        for context in ctx.values():
            context.close()


def test_a_refused_share_shows_the_servers_reason(site: Site, browser: Any) -> None:
    doc = site.create_doc("ann", "Not yours to share")
    site.share(doc, "bob", "owner")
    ctx = browser.new_context()
    try:
        sign_in(ctx, site, "bob")
        page = ctx.new_page()
        page.goto(site.url)
        share = page.locator(f'tr[data-id="{doc}"] button:text("Share")')
        expect(share).to_be_visible(timeout=TIMEOUT)
        # Demoted after the list loaded: the button is still there, the server refuses.
        site.share(doc, "bob", "editor")
        share.click()
        page.locator("#share-user").fill("vic")
        page.locator("dialog button[type=submit]").click()
        alert = page.locator("dialog[open] [role=alert]")
        expect(alert).to_contain_text("share needs a higher role")
        # The dialog's stylesheet loaded under the page's strict CSP.
        assert page.locator("dialog form").evaluate("e => getComputedStyle(e).display") == "flex"
        assert site.api("vic", "GET", f"/api/documents/{doc}").status_code == 403
    finally:
        ctx.close()
