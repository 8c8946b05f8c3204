"""The core editing test in firefox-esr (WebDriver BiDi through puppeteer-core, npm,
pinned in web/package-lock.json), from a small node script: two writers see each
other's text and caret, and the server stores both."""

from __future__ import annotations

import subprocess

from web.site import PASSWORD, ROOT, Site


def test_two_writers_in_firefox_see_each_others_text_and_caret(site: Site) -> None:
    doc = site.create_doc("ann", "Firefox")
    site.share(doc, "bob", "editor")
    done = subprocess.run(
        ["node", str(ROOT / "tests" / "web" / "firefox_edit.mjs"), site.url, doc, PASSWORD],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    assert '"ok":true' in done.stdout
    assert site.text(doc) == "Written in Firefox by Ann. Bob agrees."
