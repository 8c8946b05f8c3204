"""Export and agent worker processes end with their server: after SIGTERM to a worker,
and after ``kill -9`` of the server."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx


def _alive(pid: int) -> bool:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] != "Z"  # a zombie has exited; only its parent has not looked yet


def _descendants(root: int) -> dict[int, str]:
    """pid -> command line of every live process below ``root``."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat[1])
    found: dict[int, str] = {}
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == parent and pid not in found:
                try:
                    cmdline = (Path(f"/proc/{pid}/cmdline").read_bytes()).replace(b"\0", b" ")
                except OSError:
                    continue
                found[pid] = cmdline.decode(errors="replace")
                frontier.append(pid)
    return found


def _gone_within(pids: list[int], seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        alive = [p for p in pids if _alive(p)]
        if not alive:
            return []
        time.sleep(0.1)
    return [p for p in pids if _alive(p)]


def _server_with_workers(draftroom_process: Any) -> tuple[Any, dict[int, str], list[int]]:
    """A server that has run an export and a CPU agent: (node, its descendants, workers)."""
    node = draftroom_process("--export-workers", "1", "--agent-workers", "1")
    with httpx.Client(base_url=node.http_url, timeout=60) as http:
        assert http.post("/api/documents", json={"id": "doc"}).status_code == 201
        r = http.get("/api/documents/doc/export/md")
        assert r.status_code == 200, r.text
        r = http.post("/api/documents/doc/agents/readability", json={})
        assert r.status_code == 200, r.text
    children = _descendants(node.pid)
    forkservers = {p for p, cmd in children.items() if "multiprocessing.forkserver" in cmd}
    exporters = [p for p, cmd in children.items() if "spawn_main" in cmd]
    # A forkserver's children carry its command line.
    agents = [p for p in forkservers if _parent(p) in forkservers]
    assert exporters and agents, children
    return node, children, exporters + agents


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def test_workers_exit_on_sigterm(draftroom_process: Any) -> None:
    _, children, workers = _server_with_workers(draftroom_process)
    for pid in workers:
        os.kill(pid, signal.SIGTERM)
    left = _gone_within(workers, 5)
    assert left == [], f"ignored SIGTERM: { {p: children[p][:120] for p in left} }"


def test_workers_exit_when_their_server_is_killed(draftroom_process: Any) -> None:
    node, children, _ = _server_with_workers(draftroom_process)
    # kill -9 of the server alone (not its process group): every process it started follows.
    os.kill(node.pid, signal.SIGKILL)
    left = _gone_within(list(children), 6)
    assert left == [], f"outlived their server: { {p: children[p][:120] for p in left} }"
