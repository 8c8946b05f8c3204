"""``@pytest.mark.serial``: under pytest-xdist, the test runs while no other test runs in
any worker (tests/conftest.py loads this plugin).

scripts/test runs pytest in several xdist workers on a 2-core machine. A few tests measure
how long CPU-bound work takes (a merge estimate against its real cost, a p99 beside a
flood, an event-loop stall detector); beside three busy workers they would measure the
neighbours instead. Such a test takes a lock shared by the run's workers exclusively, and
every other test holds it shared, from its setup to its teardown. A waiting exclusive
holder takes a turnstile first, so a stream of shared holders cannot starve it. Without
xdist nothing is locked: the test runs alone anyway.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import IO

import pytest

MARKER = "serial"


class RunLock:
    """A readers-writer lock between processes, on two files in ``directory``."""

    def __init__(self, directory: Path) -> None:
        self._turnstile: IO[bytes] = open(directory / "draftroom-serial.turnstile", "a+b")
        self._main: IO[bytes] = open(directory / "draftroom-serial.lock", "a+b")

    @contextlib.contextmanager
    def hold(self, exclusive: bool) -> Iterator[None]:
        fcntl.flock(self._turnstile, fcntl.LOCK_EX)
        if not exclusive:
            fcntl.flock(self._turnstile, fcntl.LOCK_UN)
        fcntl.flock(self._main, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(self._main, fcntl.LOCK_UN)
            if exclusive:
                fcntl.flock(self._turnstile, fcntl.LOCK_UN)


_lock: RunLock | None = None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}: runs while no other test runs in any xdist worker (it measures how long "
        "CPU-bound work takes, which three busy neighbours on two cores would change)",
    )


def _lock_for(config: pytest.Config) -> RunLock | None:
    """The lock of this run's workers, in the run's base temp directory (every worker's
    own base temp is a folder in it), or None outside xdist."""
    global _lock
    if _lock is None and os.environ.get("PYTEST_XDIST_WORKER"):
        factory: pytest.TempPathFactory = config._tmp_path_factory  # type: ignore[attr-defined]
        _lock = RunLock(factory.getbasetemp().parent)
    return _lock


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_protocol(
    item: pytest.Item, nextitem: pytest.Item | None
) -> Generator[None, object, object]:
    # tryfirst: outermost, so pytest-timeout does not count the wait for the lock
    lock = _lock_for(item.config)
    if lock is None:
        return (yield)
    with lock.hold(exclusive=item.get_closest_marker(MARKER) is not None):
        return (yield)
