"""A phone (390 px, touch, 4x CPU throttling) and accessibility (axe-core).

axe-core is the npm package pinned in web/package-lock.json; the test injects it with
CSP bypassed for the test context only (the app's own CSP forbids injected scripts).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from web.site import ROOT, Site, login

TIMEOUT = 15_000
AXE = ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 3,
    "is_mobile": True,
    "has_touch": True,
}


def _no_horizontal_scroll(page: Any) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"page is {width}px wide on a 390px screen"


def test_a_phone_writer_logs_in_creates_and_writes_by_touch(
    site: Site, browser: Any, tmp_path: Path
) -> None:
    ctx = browser.new_context(**PHONE)
    try:
        page = ctx.new_page()
        cdp = ctx.new_cdp_session(page)
        cdp.send("Emulation.setCPUThrottlingRate", {"rate": 4})
        page.goto(f"{site.url}/login")
        page.tap("#username")
        page.keyboard.type("ann")
        page.tap("#password")
        page.keyboard.type("correct horse battery")
        page.tap("button[type=submit]")
        page.wait_for_selector("#list-title")
        _no_horizontal_scroll(page)
        page.tap("#new-title")
        page.keyboard.type("On the bus")
        page.tap("#create-form button[type=submit]")
        editor = page.locator("#editor .ProseMirror[contenteditable=true]")
        expect(editor).to_be_visible(timeout=TIMEOUT)
        editor.tap()
        page.keyboard.type("Thumbs are slow but sure.")
        expect(page.locator("#save-status")).to_have_text("Saved", timeout=TIMEOUT)
        expect(page.locator("#word-count")).to_have_text("5 words", timeout=TIMEOUT)
        _no_horizontal_scroll(page)
        box = page.locator("#open-export").bounding_box()
        assert box is not None and box["height"] >= 44, "touch targets are at least 44px"
        page.screenshot(path=str(tmp_path / "phone-editor.png"))
        doc = page.url.rsplit("/d/", 1)[1]
        assert site.text(doc) == "Thumbs are slow but sure."
    finally:
        ctx.close()


def _axe(page: Any) -> list[dict[str, Any]]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => JSON.stringify(await axe.run(document))")
    return [v for v in json.loads(result)["violations"] if v["impact"] in ("serious", "critical")]


def test_axe_finds_no_serious_or_critical_violations(site: Site, browser: Any) -> None:
    doc = site.create_doc("ann", "Accessible")
    ctx = browser.new_context(bypass_csp=True)
    try:
        page = ctx.new_page()
        page.goto(f"{site.url}/login")
        page.wait_for_selector("#username")
        found = {"login": _axe(page)}
        login(page, site, "ann")
        found["list"] = _axe(page)
        page.goto(f"{site.url}/d/{doc}")
        expect(page.locator("#save-status")).to_have_text("Saved", timeout=TIMEOUT)
        page.click("#open-agents")
        expect(page.locator("#agent-name option")).not_to_have_count(0)
        found["editor+agents"] = _axe(page)
        page.click("#open-export")
        page.wait_for_selector("#export-format")
        found["export"] = _axe(page)
        problems = {
            where: [(v["id"], v["help"], [n["target"] for n in v["nodes"]][:3]) for v in vs]
            for where, vs in found.items()
            if vs
        }
        assert not problems, problems
    finally:
        ctx.close()
