"""The entry points installed packages declare, scanned once per ``sys.path``.

Agents, credential backends, export formats and stores are plugins found through
entry-point groups. ``importlib.metadata.entry_points`` reads every installed
distribution's metadata on each call: tens of milliseconds with this project's
dependencies, paid by every app that is built (an in-process test server, each worker
process of a cluster). What is installed does not change while a process runs, except by
putting a new directory on ``sys.path``, so the scan is kept per ``sys.path``: a
directory prepended later (a test "installing" a plugin) is seen at once. Loading a
found entry point stays with each registry: it decides what a broken one means.
"""

from __future__ import annotations

import sys
import threading
from importlib.metadata import EntryPoint
from importlib.metadata import entry_points as _scan

_lock = threading.Lock()
_cache: dict[tuple[str, ...], dict[str, tuple[EntryPoint, ...]]] = {}


def entry_points(group: str) -> tuple[EntryPoint, ...]:
    """The entry points of ``group`` in every distribution on the current ``sys.path``."""
    key = tuple(sys.path)
    with _lock:
        groups = _cache.get(key)
        if groups is None:
            # One scan for every group; .groups and .select(group=) are the API that
            # Python 3.11's SelectableGroups and 3.12's EntryPoints share.
            scanned = _scan()
            groups = {name: tuple(scanned.select(group=name)) for name in scanned.groups}
            _cache.clear()  # only the current sys.path is ever asked again
            _cache[key] = groups
    return groups.get(group, ())


def forget() -> None:
    """Scan again on the next call (after installing a distribution into a directory
    already on ``sys.path``)."""
    with _lock:
        _cache.clear()
