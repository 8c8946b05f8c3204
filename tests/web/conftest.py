"""Fixtures of the browser tests (helpers in site.py).

site     (module)   -> Site: a server with users ann, bob, vic (and admin)
browser  (module)   -> playwright Browser (headless /usr/bin/chromium)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from web.site import CHROMIUM, Site, build_web, start_site


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    build_web()
    s = start_site(tmp_path_factory.mktemp("web"))
    try:
        yield s
    finally:
        s.proc.cleanup()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
        try:
            yield b
        finally:
            b.close()
