"""The search box and the rename dialog in firefox-esr (puppeteer-core over WebDriver
BiDi, from a small node script): a hit found as you type opens with its match selected."""

from __future__ import annotations

import subprocess
import time
import uuid

from web.site import PASSWORD, ROOT, Site


def test_search_and_a_dialog_in_firefox(site: Site) -> None:
    word = f"firefly{uuid.uuid4().hex[:6]}"
    doc = f"ff-{word}"
    body = "\n\n".join(f"Paragraph {i} says little." for i in range(40)) + f"\n\nA {word} here."
    r = site.api(
        "ann",
        "POST",
        f"/api/documents/{doc}/import",
        params={"format": "md", "title": "Fireflies"},
        content=body.encode(),
    )
    assert r.status_code == 201, r.text
    deadline = time.monotonic() + 15
    while not site.api("ann", "GET", "/api/search", params={"q": word}).json()["results"]:
        assert time.monotonic() < deadline, "not indexed"
        time.sleep(0.2)
    done = subprocess.run(
        ["node", str(ROOT / "tests" / "web" / "firefox_search.mjs"), site.url, "ann", PASSWORD,
         word, doc],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    assert '"ok":true' in done.stdout
