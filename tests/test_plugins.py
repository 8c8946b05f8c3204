"""The entry-point scan is done once per sys.path, and a directory put on sys.path later
(how a test installs a plugin) is seen at once."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import pytest

from draftroom import plugins


def _install(site: Path, name: str, group: str, value: str) -> None:
    info = site / f"{name}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{group}]\nthing = {value}\n")


def test_the_scan_is_kept_until_sys_path_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scans: list[int] = []

    def counting_scan() -> object:
        scans.append(1)
        return metadata.entry_points()

    monkeypatch.setattr(plugins, "_scan", counting_scan)
    plugins.forget()
    first = plugins.entry_points("draftroom.test_group")
    assert plugins.entry_points("draftroom.test_group") == first == ()
    assert plugins.entry_points("console_scripts")  # other groups come from the same scan
    assert len(scans) == 1

    _install(tmp_path, "plugin_a", "draftroom.test_group", "json:dumps")
    monkeypatch.syspath_prepend(str(tmp_path))
    (found,) = plugins.entry_points("draftroom.test_group")
    assert (found.name, found.value, found.load()) == (
        "thing",
        "json:dumps",
        __import__("json").dumps,
    )
    assert len(scans) == 2

    monkeypatch.undo()  # sys.path as it was: the plugin is gone again
    assert plugins.entry_points("draftroom.test_group") == ()


def test_the_cache_matches_a_fresh_scan() -> None:
    plugins.forget()
    for group in ("console_scripts", "pytest11", "draftroom.agents", "draftroom.stores"):
        assert plugins.entry_points(group) == tuple(metadata.entry_points(group=group))
