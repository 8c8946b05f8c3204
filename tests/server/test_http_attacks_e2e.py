"""The reported HTTP attacks against a real `draftroom serve` process, while another
writer keeps typing: each is refused with a clear JSON error or a closed connection,
the process lives, and the writer's save acknowledgements stay fast.

"Fast" is paired: the save-ack p95 under attack against the same writer's on the same
node, quiet just before and just after the attacks. An absolute bound (it was p99 <
100 ms) failed on a loaded machine, and one loose enough for that catches nothing on a
quiet one. (p95, as the attacks last a couple of seconds: of some 50-80 saves, the p99
would be the single slowest.) What the check guards against is attack work done on
the node's event loop (hashing passwords, reading or parsing a body, compiling an
export there), which delays the acknowledgements behind it by as long as the work
takes. The writer runs on a thread with its own event loop, so the attacks sent from
this test's loop do not delay its timings here either."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from devtools.draftroom import DraftroomProcess
from draftroom.client import DraftroomClient

# How long the writer types alone before and after the attacks: a few hundred saves.
QUIET_SECONDS = 3.0
# Under attack the save rate may fall to 1/FACTOR of the quiet one, and the p95 may
# reach FACTOR times the quiet one plus SLACK_SECONDS.
# The attacks take CPU whatever the server does (two argon2 hashes at a time fill both
# cores here). On this 2-core machine at load 14-24, with the work off the loop, the
# p95 went 0.5-1.7x and the rate 0.8-1.2x; with the password check moved onto the loop
# (the regression this guards), the p95 went 4.4-6.1x and the rate 0.4-0.7x, or the
# writer saved 8 times in the whole attack.
FACTOR = 3
SLACK_SECONDS = 0.02


class Writer(threading.Thread):
    """Types into ``url`` and times each save acknowledgement until stopped:
    ``acks`` holds (started, seconds) by perf_counter."""

    def __init__(self, url: str) -> None:
        super().__init__(name="writer", daemon=True)
        self.url = url
        self.acks: list[tuple[float, float]] = []
        self.ready, self.halt = threading.Event(), threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            asyncio.run(self._type())
        except BaseException as exc:  # handed to the test, which re-raises it
            self.error = exc
            self.ready.set()

    async def _type(self) -> None:
        async with DraftroomClient(self.url) as client:
            await client.wait_saved(client.insert("warm"))
            self.ready.set()
            while not self.halt.is_set():
                started = time.perf_counter()
                await client.wait_saved(client.insert("k"))
                self.acks.append((started, time.perf_counter() - started))
                await asyncio.sleep(0.005)

    def between(self, start: float, end: float) -> list[float]:
        """Times of the saves that started and ended within [start, end)."""
        return [s for t, s in self.acks if t >= start and t + s < end]


def _p95(latencies: list[float]) -> float:
    ordered = sorted(latencies)
    return ordered[max(0, int(len(ordered) * 0.95) - 1)]


async def _huge_body() -> AsyncIterator[bytes]:
    chunk = b"x" * (1024 * 1024)
    for _ in range(200):  # 200 MB if nobody stops reading
        yield chunk


async def _slow_headers(port: int, sockets: int, seconds: float) -> int:
    """Open sockets that trickle a request line and never finish their headers;
    return how many the server closed within ``seconds``."""

    def trickle() -> int:
        conns = []
        for _ in range(sockets):
            s = socket.create_connection(("127.0.0.1", port), timeout=seconds)
            s.sendall(b"GET /api/documents HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            conns.append(s)
        closed = 0
        deadline = time.monotonic() + seconds
        for s in conns:
            s.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                while s.recv(4096):
                    pass
                closed += 1  # EOF: the server gave up on it
            except (TimeoutError, OSError):
                pass
            finally:
                s.close()
        return closed

    return await asyncio.to_thread(trickle)


@pytest.mark.serial
async def test_http_attacks_are_refused_and_other_writers_keep_saving(
    draftroom_process: Callable[..., DraftroomProcess],
) -> None:
    node = draftroom_process("--header-timeout-seconds", "2")
    port = int(node.http_url.rsplit(":", 1)[1])
    async with DraftroomClient(node.ws_url("shared")) as owner:
        await owner.wait_saved(owner.insert("kept"))
    async with httpx.AsyncClient(base_url=node.http_url, timeout=30) as http:
        writer = Writer(node.ws_url("victim"))
        writer.start()
        try:
            assert await asyncio.to_thread(writer.ready.wait, 30), "the writer never connected"
            assert writer.error is None, writer.error
            await asyncio.sleep(QUIET_SECONDS)
            attack_started = time.perf_counter()
            slow = asyncio.create_task(_slow_headers(port, 20, 6.0))

            # An unauthenticated 200 MB login body: refused before it is read.
            try:
                big = await http.post("/api/sessions", content=_huge_body())
                big_status = big.status_code
            except httpx.HTTPError:
                big_status = 413  # the server closed the stream mid-upload: refused
            # JSON nested 20,000 deep.
            deep = await http.post(
                "/api/documents",
                content=b"[" * 20_000 + b"]" * 20_000,
                headers={"content-type": "application/json"},
            )
            # A compiled export listing one document 1,000 times.
            dup = await http.post(
                "/api/export/jobs",
                content=json.dumps(
                    {"documents": ["shared"] * 1000, "format": "md", "mode": "compile"}
                ),
                headers={"content-type": "application/json"},
            )
            # Eleven wrong passwords for one account.
            logins = [
                (
                    await http.post("/api/sessions", json={"username": "ann", "password": "x" * 9})
                ).status_code
                for _ in range(11)
            ]
            closed_slow = await slow
            attack_ended = time.perf_counter()
            await asyncio.sleep(QUIET_SECONDS)
        finally:
            writer.halt.set()
            await asyncio.to_thread(writer.join, 30)
        assert writer.error is None, writer.error
        content = (await http.get("/api/documents/shared/content")).json()
        health = await http.get("/healthz")

    assert node.running
    assert health.status_code == 200
    assert big_status == 413
    assert deep.status_code in (400, 422) and "error" in deep.json()
    assert dup.status_code == 422 and dup.json()["error"] == "duplicate_documents"
    assert set(logins) <= {401, 429}, logins
    assert closed_slow == 20, closed_slow  # every half-sent request timed out
    assert content.get("text") == "kept"  # nothing refused reached the store
    before = writer.between(0.0, attack_started)
    during = writer.between(attack_started, attack_ended)
    after = writer.between(attack_ended, float("inf"))
    assert min(len(before), len(after)) >= 40, (len(before), len(after))  # a baseline ran
    # Work on the loop shows first as fewer saves, then as slower ones.
    quiet_rate = min(len(before), len(after)) / QUIET_SECONDS
    attacked_rate = len(during) / (attack_ended - attack_started)
    assert attacked_rate >= quiet_rate / FACTOR, (
        f"{attacked_rate:.1f} saves/s under attack, {quiet_rate:.1f}/s quiet"
    )
    quiet, attacked = max(_p95(before), _p95(after)), _p95(during)
    assert attacked <= FACTOR * quiet + SLACK_SECONDS, (
        f"save-ack p95 {attacked * 1e3:.1f} ms under attack, {quiet * 1e3:.1f} ms quiet",
        sorted(during)[-5:],
    )
