"""The Feature contract: how the node merges, runs, starts and stops its features."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from devtools.inprocess import make_settings
from draftroom.crdt.room import Peer, Room
from draftroom.features import BaseFeature, ControlHandler, FeatureHooks
from draftroom.node import Node


class Recorder(BaseFeature):
    def __init__(self, name: str, log: list[str], *, fail_stop: bool = False) -> None:
        self.name, self.log, self.fail_stop = name, log, fail_stop

    def control_handlers(self) -> Mapping[str, ControlHandler]:
        return {f"{self.name}.ping": lambda data: self.log.append(f"{self.name}:{data['n']}")}

    async def start(self) -> None:
        self.log.append(f"start {self.name}")

    async def stop(self) -> None:
        self.log.append(f"stop {self.name}")
        if self.fail_stop:
            raise RuntimeError("boom")


class Watcher(BaseFeature):
    def __init__(self) -> None:
        self.advanced: list[str] = []
        self.left: list[str] = []

    def on_room_advance(self, room: Room) -> None:
        self.advanced.append(room.doc_id)

    def on_peer_leave(self, room: Room, peer: Peer) -> None:
        self.left.append(room.doc_id)


def test_two_features_cannot_claim_one_message_type() -> None:
    log: list[str] = []
    hooks = FeatureHooks()
    with pytest.raises(ValueError, match=r"a\.ping"):
        hooks.install([Recorder("a", log), Recorder("a", log)])


def test_features_are_installed_once() -> None:
    hooks = FeatureHooks()
    hooks.install([Watcher()])
    with pytest.raises(RuntimeError):
        hooks.install([Watcher()])


def test_room_hooks_run_only_for_features_that_listen() -> None:
    first, second = Watcher(), Watcher()
    hooks = FeatureHooks()
    hooks.install([Recorder("quiet", []), first, second])
    room: Any = type("FakeRoom", (), {"doc_id": "doc"})()
    hooks.on_room_advance(room)
    hooks.on_peer_leave(room, object())  # type: ignore[arg-type]
    assert first.advanced == second.advanced == ["doc"]
    assert first.left == second.left == ["doc"]
    assert len(hooks._advance) == 2  # the no-op default is skipped on the edit path


async def test_node_runs_features_in_order_and_finds_them_by_type(tmp_path: Path) -> None:
    log: list[str] = []
    node = Node(make_settings(tmp_path))
    a, b = Recorder("a", log, fail_stop=True), Recorder("b", log)
    watcher = Watcher()
    node.install([a, b, watcher])
    assert node.feature(Watcher) is watcher and node.feature(Recorder) is a
    assert node.optional(Node) is None
    with pytest.raises(LookupError):
        node.feature(Node)
    await node.start()
    try:
        node.broadcast_control({"type": "b.ping", "n": 1})
    finally:
        await node.stop()
    # Started in list order, stopped in reverse; a failing stop does not stop the rest.
    assert log == ["start a", "start b", "b:1", "stop b", "stop a"]
