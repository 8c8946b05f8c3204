"""The export formats load when the node starts, not on the first export request: their
import (writers, plugin entry points) takes 0.1-1 s, and on a request it would run on
the event loop and stall every writer on the node."""

from __future__ import annotations

from pathlib import Path

import pytest

from devtools.inprocess import make_settings
from draftroom.export import formats
from draftroom.export.jobs import ExportService


async def test_the_export_service_loads_the_formats_as_it_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As in a fresh process (earlier tests in this one have loaded them).
    monkeypatch.setattr(formats, "_formats", {})
    monkeypatch.setattr(formats, "_loaded", False)
    service = ExportService(make_settings(tmp_path), store=None, broadcast=lambda *_: None)  # type: ignore[arg-type]
    await service.start()
    try:
        assert formats._loaded
        assert {"md", "docx", "pdf", "html", "scriv"} <= set(formats._formats)
    finally:
        await service.stop()
