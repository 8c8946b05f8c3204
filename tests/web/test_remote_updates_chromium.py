"""Collaborators' edits that arrive together reach the editor together: the page applies
the Yjs updates queued since the last frame in one go, so y-tiptap rebuilds the document
once for them instead of once per update, and the text comes out whole and in order."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import msgpack
import websockets
from playwright.sync_api import expect
from pycrdt import Doc, XmlElement, XmlFragment, XmlText

from draftroom.crdt.protocol import SyncType, encode_sync, read_varbytes
from web.site import Site, sign_in

TIMEOUT = 10_000
BURST = 20


async def _burst(url: str, token: str, started: threading.Event) -> None:
    """Append BURST paragraphs, one update frame each, sent back to back; return when
    the server has saved (and so fanned out) them all."""
    headers = {"Authorization": f"Bearer {token}"}
    async with websockets.connect(url, additional_headers=headers, max_size=None) as ws:
        doc = Doc()
        await ws.send(encode_sync(SyncType.STEP1, doc.get_state()))
        while True:
            frame = await ws.recv()
            if isinstance(frame, bytes) and frame[:2] == b"\x00\x01":
                doc.apply_update(read_varbytes(frame, 2)[0])
                break
        frag = doc.get("default", type=XmlFragment)
        started.wait(10)
        for i in range(BURST):
            before = doc.get_state()
            para = frag.children.append(XmlElement("paragraph"))
            para.children.append(XmlText(f"burst line {i}."))
            await ws.send(encode_sync(SyncType.UPDATE, doc.get_update(before)))
        async with asyncio.timeout(20):
            while True:
                frame = await ws.recv()
                if isinstance(frame, bytes) and frame[:1] == b"\x64":
                    msg = msgpack.unpackb(frame[1:])
                    if msg.get("type") == "saved" and msg.get("upto", 0) >= BURST:
                        return


def test_a_burst_of_remote_updates_is_one_rebuild_and_all_the_text(
    site: Site, browser: Any
) -> None:
    doc = site.create_doc("ann", "Burst")
    site.share(doc, "bob", "editor")
    ctx = browser.new_context()
    try:
        sign_in(ctx, site, "ann")
        page = ctx.new_page()
        page.goto(f"{site.url}/d/{doc}")
        page.wait_for_selector("#editor .ProseMirror[contenteditable=true]")
        expect(page.locator("#save-status")).to_have_text("Saved", timeout=TIMEOUT)
        page.evaluate(
            "() => { window.__docUpdates = 0;"
            " window.draftroom.editor.on('update', () => { window.__docUpdates++ }) }"
        )
        # Hold the page's main thread while the burst arrives, as a long task would: the
        # frames queue up behind it, as they do whenever several land within one frame.
        page.evaluate(
            "() => { setTimeout(() => { const t = performance.now();"
            " while (performance.now() - t < 3000) {} }, 0) }"
        )
        started = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            try:
                asyncio.run(
                    _burst(f"{site.proc.ws_url(doc)}?draftroom=1", site.token("bob"), started)
                )
            except BaseException as e:
                errors.append(e)

        writer = threading.Thread(target=run)
        writer.start()
        started.set()
        writer.join(30)
        assert not errors, errors
        last = f"burst line {BURST - 1}."
        expect(page.locator("#editor")).to_contain_text(last, timeout=TIMEOUT)
        lines = page.locator("#editor .ProseMirror p").all_inner_texts()
        assert [x for x in lines if x.startswith("burst")] == [
            f"burst line {i}." for i in range(BURST)
        ]
        rebuilds = page.evaluate("() => window.__docUpdates")
        # One update per frame that had updates queued: a handful at most, not one each.
        assert 1 <= rebuilds <= 5, rebuilds
    finally:
        ctx.close()
