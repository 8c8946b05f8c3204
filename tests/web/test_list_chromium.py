"""The document list: presence per document, rename, pagination, batch export progress."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from web.site import Site, sign_in

TIMEOUT = 10_000


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
        page.select_option("#sort", "title")
        expect(page.locator("#docs tr")).to_have_count(20)
        titles = page.locator("#docs a.doc-link").all_inner_texts()
        assert titles == sorted(titles) and len(titles) == 20

        # The server decides which documents make up a page; act on what this one shows.
        shown = page.locator("#docs tr").evaluate_all("rows => rows.map(r => r.dataset.id)")
        assert set(shown) <= set(ids)
        page.once("dialog", lambda d: d.accept("Part zero"))
        page.click(f'tr[data-id="{shown[0]}"] button:text("Rename")')
        expect(page.locator(f'tr[data-id="{shown[0]}"] a.doc-link')).to_have_text("Part zero")

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
