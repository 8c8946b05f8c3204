"""One event-loop-lag timer per node, read by admission and telemetry alike.

Lives with the telemetry tests because reading the lag histogram needs the SDK their
conftest installs.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from prometheus_client import generate_latest

from devtools.inprocess import make_settings, running_server
from devtools.waiting import eventually
from draftroom.admission import AdmissionControl
from draftroom.loop_lag import LoopLag
from draftroom.node import Node
from draftroom.telemetry import sdk
from draftroom.telemetry.node import Telemetry


def lag_timers() -> list[asyncio.Task[object]]:
    return [t for t in asyncio.all_tasks() if t.get_coro().__qualname__ == "LoopLag.run"]  # type: ignore[union-attr]


def histogram_count() -> float:
    registry = sdk.state().registry
    assert registry is not None, "the telemetry conftest installs a Prometheus reader"
    for line in generate_latest(registry).decode().splitlines():
        if line.startswith("draftroom_event_loop_lag_seconds_count"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_each_node_runs_one_lag_timer_that_admission_and_telemetry_share(
    tmp_path: Path,
) -> None:
    before = {t.get_name() for t in asyncio.all_tasks()}
    async with (
        running_server(make_settings(tmp_path / "a")) as a,
        running_server(make_settings(tmp_path / "b")) as b,
    ):
        seen: dict[str, list[float]] = {"a": [], "b": []}
        a.hub.loop_lag.subscribe(seen["a"].append)
        b.hub.loop_lag.subscribe(seen["b"].append)
        counted = histogram_count()
        await eventually(lambda: len(seen["a"]) >= 3 and len(seen["b"]) >= 3, within=10)

        # Two nodes, two timers: no feature runs one of its own.
        assert len(lag_timers()) == 2
        started = {t.get_name() for t in asyncio.all_tasks()} - before
        assert "admission" not in started

        for server, name in ((a, "a"), (b, "b")):
            admission = server.hub.feature(AdmissionControl)
            recent = [lag for _, lag in admission._recent]
            # Admission's latest samples are the very ones the node's timer published
            # (one publish calls every listener, so the tails line up).
            assert recent[-2:] == seen[name][-2:]
        # ... and telemetry's histogram is fed from the same timers.
        assert histogram_count() > counted


async def test_admission_reads_the_lag_with_telemetry_off(tmp_path: Path) -> None:
    node = Node(make_settings(tmp_path))
    admission = AdmissionControl(0, 100.0, node.loop_lag)
    node.install([admission])
    await node.start()
    try:
        await eventually(lambda: len(admission._recent) >= 2, within=10)
        admission.sample(0.2)  # still the ordinary path: a stall fills the node
        assert admission.pressure() > 0
        assert len(lag_timers()) == 1
    finally:
        await node.stop()
    assert lag_timers() == []


async def test_telemetry_records_the_lag_with_admission_off(tmp_path: Path) -> None:
    node = Node(make_settings(tmp_path))
    node.install([Telemetry(node, node.loop_lag)])
    counted = histogram_count()
    await node.start()
    try:
        await eventually(lambda: histogram_count() >= counted + 2, within=10)
        assert len(lag_timers()) == 1
    finally:
        await node.stop()


def test_a_failing_listener_does_not_starve_the_others() -> None:
    lag = LoopLag()
    got: list[float] = []

    def broken(_: float) -> None:
        raise RuntimeError("boom")

    lag.subscribe(broken)
    unsubscribe = lag.subscribe(got.append)
    lag.publish(0.01)
    unsubscribe()
    lag.publish(0.02)
    assert got == [0.01]
