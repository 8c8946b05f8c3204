"""Where the editor page's time goes while typing in a long document: a CPU profile.

    nice -n 15 .venv/bin/python bench/web_profile.py --seconds 10
    .venv/bin/python bench/web_profile.py --seconds 10 --json /tmp/profile.json

The same scene as ``bench/web.py``'s typing run (a 50,000-word document, one key per
80 ms, 4 pycrdt writers each typing a key per 200 ms into their own paragraphs), with
V8's sampling profiler (CDP ``Profiler``, 100 µs) running in the page while it types.
Prints, per second of typing and per key, the inclusive time of the functions on the
typing and remote-update paths (a function counts once per sample however deep it
recurses) and the top functions by self time.

Function names survive only in an unminified build: build one into this tree's dist
first (``cd web && npx vite build --minify false``) and rebuild with
``scripts/build-web --force`` afterwards. This is a diagnostic, not a benchmark: it has
no targets and always exits 0 when the run happened; timings under the sampling
profiler are a little longer than without it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx

from bench.web import CHROMIUM, Writers, big_document, new_context, start_server, upload

# The functions whose inclusive time answers "what runs per key, per remote update".
WATCH = [
    # a local key: ProseMirror reads the DOM change, y-tiptap writes it into Yjs
    "readDOMChange",
    "updateStateInner",
    "_prosemirrorChanged",
    "updateYFragment",
    "reconcileMappedChildren",
    "getRelativeSelection",
    # a remote update, applied once per frame (web/src/remote.ts)
    "flush",
    "_typeChanged",
    "createNodeIfNotExists",
    "createNodeFromYElement",
    "restoreRelativeSelection",
    "_isDomSelectionInView",
    "scrollToSelection",
    # both: the view redraws, decorations (carets) are rebuilt
    "updateState",
    "updateChildren",
    "createDecorations",
    "decorations",
    "dispatchTransaction",
    "emit",
    # the Yjs socket
    "readMessage",
    "send",
]

TRACE = ["devtools.timeline", "disabled-by-default-devtools.timeline", "blink", "v8"]


def analyse(profile: dict[str, Any], seconds: float, keys: int) -> dict[str, Any]:
    """Inclusive and self time per function name from a V8 CPU profile."""
    nodes = {n["id"]: n for n in profile["nodes"]}
    parent: dict[int, int] = {}
    for n in profile["nodes"]:
        for c in n.get("children", []):
            parent[c] = n["id"]

    def name(nid: int) -> str:
        f = nodes[nid]["callFrame"]
        return f["functionName"] or f"(anonymous {Path(f['url']).name}:{f['lineNumber']})"

    inclusive: defaultdict[str, float] = defaultdict(float)
    self_ms: defaultdict[str, float] = defaultdict(float)
    deltas = profile["timeDeltas"]
    for i, nid in enumerate(profile["samples"]):
        # A sample's duration is the delta to the next one.
        ms = (deltas[i + 1] if i + 1 < len(deltas) else 0) / 1000
        self_ms[name(nid)] += ms
        seen: set[str] = set()
        cur: int | None = nid
        while cur is not None:
            seen.add(name(cur))
            cur = parent.get(cur)
        for s in seen:
            inclusive[s] += ms
    busy = sum(ms for n, ms in self_ms.items() if n not in ("(idle)",))
    return {
        "seconds": seconds,
        "keys": keys,
        "busy_ms_per_s": busy / seconds,
        "watch": {
            w: {"ms_per_s": inclusive[w] / seconds, "ms_per_key": inclusive[w] / max(1, keys)}
            for w in WATCH
        },
        "self_top": [
            {"name": n, "ms_per_s": ms / seconds}
            for n, ms in sorted(self_ms.items(), key=lambda x: -x[1])[:30]
            if n != "(idle)"
        ],
    }


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--words", type=int, default=50_000)
    ap.add_argument("--writers", type=int, default=4)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--raw", type=Path, help="write the V8 CPU profile (.cpuprofile) here")
    ap.add_argument(
        "--trace",
        type=Path,
        help="also record a DevTools timeline trace here (style, layout, paint per frame)",
    )
    args = ap.parse_args()

    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="bench-web-profile-"))
    proc, auth = start_server(tmp)
    try:
        bearer = {"Authorization": f"Bearer {auth['token']}"}
        r = httpx.post(f"{proc.http_url}/api/documents", json={"id": "big"}, headers=bearer)
        r.raise_for_status()
        asyncio.run(
            upload(f"{proc.ws_base}/big?draftroom=1", auth["token"], big_document(args.words))
        )
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            ctx = new_context(browser, proc.http_url, auth, phone=False)
            page = ctx.new_page()
            page.goto(f"{proc.http_url}/d/big")
            editor = page.locator("#editor .ProseMirror[contenteditable=true]")
            editor.wait_for(timeout=60_000)
            page.wait_for_function(
                "n => document.querySelector('#editor').textContent.length > n",
                arg=args.words * 3,
                timeout=60_000,
            )
            page.evaluate(
                "() => { const p = document.querySelector('#editor .ProseMirror p'); "
                "const r = document.createRange(); r.selectNodeContents(p); r.collapse(false); "
                "const s = getSelection(); s.removeAllRanges(); s.addRange(r) }"
            )
            editor.focus()
            cdp = ctx.new_cdp_session(page)
            cdp.send("Profiler.enable")
            cdp.send("Profiler.setSamplingInterval", {"interval": 100})
            with Writers(f"{proc.ws_base}/big", auth["token"], args.writers, 0.2) as remote:
                page.wait_for_timeout(1000)
                if args.trace:
                    browser.start_tracing(page=page, path=str(args.trace), categories=TRACE)
                cdp.send("Profiler.start")
                start = time.monotonic()
                n = 0
                next_at = start
                while time.monotonic() < start + args.seconds:
                    page.keyboard.press("Space" if n % 6 == 5 else "a")
                    n += 1
                    next_at += 0.08
                    time.sleep(max(0.0, next_at - time.monotonic()))
                profile = cdp.send("Profiler.stop")["profile"]
                if args.trace:
                    browser.stop_tracing()
                elapsed = time.monotonic() - start
                sent = remote.sent
            if remote.error is not None:
                raise RuntimeError(f"remote writer failed: {remote.error!r}")
            browser.close()
    finally:
        proc.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)

    if args.raw:
        args.raw.write_text(json.dumps(profile))  # DevTools opens .cpuprofile files
    out = analyse(profile, elapsed, n)
    out["remote_edits"] = sent
    print(f"{elapsed:.1f} s, {n} keys, {sent} remote edits; "
          f"busy (JS and what it calls) {out['busy_ms_per_s']:.0f} ms/s")  # fmt: skip
    print("\ninclusive            ms/s   ms/key")
    for w, v in out["watch"].items():
        print(f"{w:<24}{v['ms_per_s']:6.1f} {v['ms_per_key']:8.2f}")
    print("\nself time            ms/s")
    for row in out["self_top"]:
        print(f"{row['name'][:40]:<40}{row['ms_per_s']:6.1f}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
