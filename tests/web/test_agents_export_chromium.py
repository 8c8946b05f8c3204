"""Agents and exports from the editor: a reply streams into every collaborator's
window, and the export menu downloads a DOCX that pandoc can read."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from web.site import Site, sign_in

TIMEOUT = 10_000


def _open(browser: Any, site: Site, user: str, doc: str) -> tuple[Any, Any]:
    ctx = browser.new_context(accept_downloads=True)
    sign_in(ctx, site, user)
    page = ctx.new_page()
    page.goto(f"{site.url}/d/{doc}")
    expect(page.locator("#save-status")).to_have_text("Saved", timeout=TIMEOUT)
    return ctx, page


def test_an_agent_run_appears_in_both_windows(site: Site, browser: Any) -> None:
    doc = site.create_doc("ann", "Outlined")
    site.share(doc, "bob", "editor")
    ann_ctx, ann = _open(browser, site, "ann", doc)
    bob_ctx, bob = _open(browser, site, "bob", doc)
    try:
        ann.locator("#editor .ProseMirror").click()
        ann.keyboard.type("The storm came in from the west and it was very very loud.")
        expect(ann.locator("#save-status")).to_have_text("Saved", timeout=TIMEOUT)

        ann.keyboard.press("Alt+A")  # keyboard-first: the agent panel
        expect(ann.locator("#agent-name option[value=outline]")).to_have_count(1)
        ann.select_option("#agent-name", "outline")
        ann.click("#run-agent")

        for page in (ann, bob):
            reply = page.locator('.reply[data-agent="outline"][data-done="true"]')
            expect(reply).to_be_visible(timeout=TIMEOUT)
            expect(reply).to_contain_text("asked by ann")
            expect(reply).to_contain_text("total_words: 13")
    finally:
        ann_ctx.close()
        bob_ctx.close()


def test_a_docx_export_downloads_and_pandoc_reads_it(
    site: Site, browser: Any, tmp_path: Path
) -> None:
    doc = site.create_doc("ann", "Exported")
    ctx, page = _open(browser, site, "ann", doc)
    try:
        page.locator("#editor .ProseMirror").click()
        page.keyboard.type("A sentence worth keeping.")
        expect(page.locator("#save-status")).to_have_text("Saved", timeout=TIMEOUT)
        page.click("#open-export")
        page.select_option("#export-format", "docx")
        page.select_option("#export-page", "Letter")
        with page.expect_download() as info:
            page.click("#export-download")
        download = info.value
        assert download.suggested_filename == "Exported.docx"
        path = tmp_path / "out.docx"
        download.save_as(path)
        text = subprocess.run(
            ["pandoc", "-f", "docx", "-t", "plain", str(path)],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        assert "A sentence worth keeping." in text
    finally:
        ctx.close()
