"""free_port under pytest-xdist: each worker walks a block of ports of its own, below the
kernel's ephemeral range, so workers never pick the same port and a port just handed out
is not handed out again by the next calls."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devtools import process


@pytest.fixture
def as_worker(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    def become(worker: str) -> None:
        monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
        process._worker_block.cache_clear()
        monkeypatch.setattr(process, "_block_ports", None)

    yield become
    process._worker_block.cache_clear()


def _ephemeral_low() -> int:
    return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])


def test_workers_take_ports_from_blocks_of_their_own(as_worker: Callable[[str], None]) -> None:
    as_worker("gw0")
    first = [process.free_port() for _ in range(20)]
    as_worker("gw1")
    second = [process.free_port() for _ in range(20)]
    assert len(set(first)) == len(set(second)) == 20  # no repeats within a worker
    assert not set(first) & set(second)
    assert max(first + second) < _ephemeral_low()
    assert len({p // process._BLOCK_SIZE for p in first}) <= 2  # one block (walk may wrap)


def test_a_port_in_use_is_skipped(as_worker: Callable[[str], None]) -> None:
    as_worker("gw3")
    block = process._worker_block()
    assert block is not None
    with socket.socket() as taken:
        port = process.free_port()
        taken.bind((process.LOOPBACK, port))
        taken.listen()
        seen = {process.free_port() for _ in range(len(block))}
    assert port not in seen and seen <= set(block)


def test_outside_xdist_the_kernel_picks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    process._worker_block.cache_clear()
    try:
        assert process._worker_block() is None
        assert process.free_port() >= _ephemeral_low()
    finally:
        process._worker_block.cache_clear()
