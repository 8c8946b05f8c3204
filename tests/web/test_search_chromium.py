"""The search box of the document list: results as you type (title, heading path, the
snippet with its matches marked), stale requests cancelled, keyboard and mouse, "load
more", and opening a hit selects its match in the editor, in view."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from draftroom.client import DraftroomClient
from draftroom.document.text import read_text
from web.site import PASSWORD, Site, sign_in

TIMEOUT = 10_000
ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"


def _import(site: Site, owner: str, title: str, markdown: str) -> str:
    doc = f"s-{uuid.uuid4().hex[:12]}"
    r = site.api(
        owner,
        "POST",
        f"/api/documents/{doc}/import",
        params={"format": "md", "title": title},
        content=markdown.encode(),
    )
    assert r.status_code == 201, r.text
    return doc


def _indexed(site: Site, user: str, q: str, count: int) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        r = site.api(user, "GET", "/api/search", params={"q": q, "limit": 50})
        if r.status_code == 200 and len(r.json()["results"]) >= count:
            return
        time.sleep(0.2)
    raise AssertionError(f"{q!r} not indexed: {r.text}")


def _filler(n: int) -> str:
    return "\n\n".join(f"Line {i} of the harbour log, where nothing happens." for i in range(n))


def test_type_see_the_hit_and_open_it_at_the_match(site: Site, browser: Any) -> None:
    tag = uuid.uuid4().hex[:6]  # words of this test only, so other tests' documents never match
    word = f"zephyr{tag}"
    body = (
        f"# Part I\n\n## Chapter 3\n\n{_filler(80)}\n\n"
        f"The {word} lantern glowed over &lt;b&gt;the quay&lt;/b&gt;.\n\n{_filler(20)}"
    )
    doc = _import(site, "ann", f"Harbour log {tag}", body)
    # bob's document with the same word must never show up for ann.
    _import(site, "bob", f"Bob's secret {tag}", f"Only bob reads the {word} here.")
    _indexed(site, "bob", word, 1)
    _indexed(site, "ann", word, 1)

    ctx = browser.new_context(bypass_csp=True)  # for axe-core only
    try:
        sign_in(ctx, site, "ann")
        page = ctx.new_page()
        page.goto(site.url)
        box = page.locator("#search")
        page.locator("#list-title").click()
        page.keyboard.press("/")  # the shortcut to the box
        expect(box).to_be_focused()
        page.keyboard.type(f"zephyr{tag[:3]}")  # a prefix, as while typing
        hits = page.locator("#search-results [role=option]")
        expect(hits).to_have_count(1, timeout=TIMEOUT)
        hit = hits.first
        expect(hit.locator(".hit-title")).to_have_text(f"Harbour log {tag}")
        expect(hit.locator(".hit-heading")).to_have_text("Part I \u203a Chapter 3")
        expect(hit.locator(".hit-snippet mark")).to_have_text(word)
        # Snippet text is text: the markup in the document is shown, never parsed.
        expect(hit.locator(".hit-snippet")).to_contain_text("<b>the quay</b>")
        assert hit.locator(".hit-snippet b").count() == 0
        expect(box).to_have_attribute("aria-expanded", "true")

        page.add_script_tag(path=str(AXE))
        found = json.loads(page.evaluate("async () => JSON.stringify(await axe.run(document))"))
        bad = [v["id"] for v in found["violations"] if v["impact"] in ("serious", "critical")]
        assert not bad, bad

        # Keyboard: down to the hit, Enter opens it.
        page.keyboard.press("ArrowDown")
        expect(hit).to_have_attribute("aria-selected", "true")
        expect(box).to_have_attribute("aria-activedescendant", "search-hit-0")
        page.keyboard.press("Enter")
        page.wait_for_url(f"**/d/{doc}")
        expect(page.locator("#save-status")).to_have_text("Saved", timeout=TIMEOUT)
        selected = page.evaluate(
            "() => { const e = window.draftroom.editor; const {from, to} = e.state.selection;"
            " return e.state.doc.textBetween(from, to) }"
        )
        assert selected == word
        # Far down the document, yet in view, near the middle of the window.
        in_view = page.evaluate(
            "() => { const e = window.draftroom.editor;"
            " const c = e.view.coordsAtPos(e.state.selection.from);"
            " return c.top >= window.innerHeight * 0.2 && c.bottom <= window.innerHeight * 0.8 }"
        )
        assert in_view
        assert page.evaluate("window.scrollY") > 0
        assert "#" not in page.url  # the hash did its job and is gone
    finally:
        ctx.close()


def test_stale_answers_are_cancelled_and_more_results_load(site: Site, browser: Any) -> None:
    tag = uuid.uuid4().hex[:6]
    many = f"quill{tag}"
    # A user of this test only: other tests count the documents in their users' lists.
    user = f"sam{tag}"
    r = site.api("admin", "POST", "/api/users", json={"username": user, "password": PASSWORD})
    assert r.status_code == 201, r.text
    ids = [
        _import(site, user, f"Quills {i:02d} {tag}", f"A {many} pen, number {i}.")
        for i in range(13)
    ]
    one = _import(site, user, f"Lone {tag}", f"Only one lonely{tag} word.")
    _indexed(site, user, many, 13)
    _indexed(site, user, f"lonely{tag}", 1)

    ctx = browser.new_context()
    try:
        sign_in(ctx, site, user)
        page = ctx.new_page()
        aborted: list[str] = []
        page.on(
            "requestfailed", lambda r: aborted.append(r.url) if "/api/search" in r.url else None
        )

        # The answer to the first query is held back until after the second was asked:
        # it must be aborted, and never replace the newer answer.
        def slow(route: Any) -> None:
            if many in route.request.url:
                page.wait_for_timeout(1500)
            route.continue_()

        page.route("**/api/search?*", slow)
        page.goto(site.url)
        box = page.locator("#search")
        box.fill(many)
        page.wait_for_timeout(400)  # past the debounce: the slow request is out
        box.fill(f"lonely{tag}")
        hits = page.locator("#search-results [role=option]")
        expect(hits).to_have_count(1, timeout=TIMEOUT)
        # The list's stylesheet loaded under the page's strict CSP (no inline style).
        position = page.locator("#search-results").evaluate("e => getComputedStyle(e).position")
        assert position == "absolute"
        page.wait_for_timeout(2000)  # the held-back answer would have arrived by now
        expect(hits).to_have_count(1)
        expect(hits.first).to_have_attribute("data-id", one)
        assert any(many in url for url in aborted), aborted
        page.unroute("**/api/search?*")

        # Ten at a time; "Load more results" fetches the rest with the cursor.
        box.fill(many)
        expect(page.locator("#search-results .hit")).to_have_count(10, timeout=TIMEOUT)
        more = page.locator("#search-more")
        expect(more).to_be_visible()
        more.click()
        expect(page.locator("#search-results .hit")).to_have_count(13, timeout=TIMEOUT)
        expect(more).to_have_count(0)
        shown = page.locator("#search-results .hit").evaluate_all("h => h.map(x => x.dataset.id)")
        assert sorted(shown) == sorted(ids)  # no repeats, none skipped

        # Escape closes the list; a click on a hit opens its document.
        page.keyboard.press("Escape")
        expect(page.locator("#search-results")).to_be_hidden()
        page.keyboard.press("ArrowDown")
        expect(page.locator("#search-results")).to_be_visible()
        page.locator(f'#search-results .hit[data-id="{ids[4]}"]').click()
        page.wait_for_url(f"**/d/{ids[4]}")
        expect(page.locator("#save-status")).to_have_text("Saved", timeout=TIMEOUT)
        selected = page.evaluate(
            "() => { const e = window.draftroom.editor; const {from, to} = e.state.selection;"
            " return e.state.doc.textBetween(from, to) }"
        )
        assert selected == many
    finally:
        ctx.close()


def _flattened(site: Site, doc: str) -> str:
    """The document's text as the server flattens it (document/text.py), read over a
    real sync: the offsets a search hit carries count in this text."""

    async def read() -> str:
        url = f"{site.proc.ws_url(doc)}?token={site.token('ann')}"
        async with DraftroomClient(url) as client:
            return read_text(client.doc).text

    with ThreadPoolExecutor(1) as pool:  # Playwright's sync API owns this thread's loop
        return pool.submit(asyncio.run, read()).result(timeout=30)


def test_the_offset_picks_the_occurrence_it_names(site: Site, browser: Any) -> None:
    """jump.ts flattens the editor's document as the server does (headings, list items,
    hard breaks, code blocks; code points, not UTF-16 units, after an emoji), so an
    offset selects exactly the occurrence it was computed for."""
    word = f"lumen{uuid.uuid4().hex[:6]}"
    body = (
        f"# Title 🐉 {word}\n\n- item 🐉🐉 one\n- item two {word}\n\n"
        f"Line one  \nafter a break {word}\n\n```\ncode {word}\n```\n\n"
        f"## Heading 🐉 {word}\n\n🐉🐉🐉🐉🐉🐉🐉🐉🐉🐉 {word} {word}\n\nFinal 🐉 {word} here."
    )
    doc = _import(site, "ann", "Offsets", body)
    text = _flattened(site, doc)
    starts = [i for i in range(len(text)) if text.startswith(word, i)]
    assert len(starts) == 8, text
    ctx = browser.new_context()
    try:
        sign_in(ctx, site, "ann")
        page = ctx.new_page()
        for n, at in enumerate(starts):
            page.goto(f"{site.url}/d/{doc}#match={word.upper()}&at={at}")
            expect(page.locator("#save-status")).to_have_text("Saved", timeout=TIMEOUT)
            page.wait_for_function("() => !location.hash")
            picked = page.evaluate(
                "() => { const e = window.draftroom.editor; const s = e.state.selection;"
                " return [e.state.doc.textBetween(s.from, s.to), s.$from.parent.textContent,"
                " s.$from.parentOffset] }"
            )
            line_of = text.rfind("\n", 0, at) + 1
            line = text[line_of : text.find("\n", at) if "\n" in text[at:] else None]
            assert picked[0] == word, (n, picked)
            # The hard break is "\n" in the flat text and nothing in textContent.
            assert picked[1].endswith(line), (n, picked, line)
            if picked[1] == line:  # which one on its line, in UTF-16 units as in the page
                before = text[line_of:at]
                assert picked[2] == len(before.encode("utf-16-le")) // 2, (n, picked, before)
    finally:
        ctx.close()
