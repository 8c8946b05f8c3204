"""Independent latency probe for Draftroom, to run next to the Locust load.

A few dozen asyncio clients (uvloop, ``websockets``) in their own rooms, behaving like
the load (rooms of 5, member 0 types one insert every 300 ms +-20%, everyone moves its
cursor every ~3 s), measuring with their own clock, free of Locust's scheduling:

- ack: update sent -> ``saved`` app message covering it (``?draftroom=1``);
- delivery: typist's insert -> seen by a reader of its room. The typist of room r is on
  node ``r % N`` and its readers are on the OTHER nodes, so every delivery crosses
  Redis (with one node it cannot, and the output says so). Markers
  ``~<room>.<seq>.<monotonic us>~`` are found by scanning raw update bytes.

Only sends in the measurement window [start-delay, start-delay + duration] count;
after the window the typists stop and the probe waits up to --drain seconds for
outstanding acks and deliveries; what is still missing is reported as lost.

    python loadtests/probe.py --hosts ws://127.0.0.1:8001/ws,ws://127.0.0.1:8002/ws \
        --rooms 8 --start-delay 5 --duration 30 --json probe.json

All waits are bounded; the whole run is capped by --timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import re
import sys
import time
from collections import Counter
from typing import Any

import msgpack
from pycrdt import Doc, Text
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from draftroom.crdt.protocol import encode_sync as sync_frame
from draftroom.crdt.protocol import read_varuint
from draftroom.crdt.protocol import write_varuint as varuint

SYNC, AWARENESS, APP = 0, 1, 100
STEP1, STEP2, UPDATE = 0, 1, 2
EMPTY_UPDATE = b"\x00\x00"
MARKER = re.compile(rb"~(\d+)\.(\d+)\.(\d+)~")


def sync_payload(frame: bytes) -> bytes:
    n, pos = read_varuint(frame, 2)
    return frame[pos : pos + n]


def awareness_frame(client_id: int, clock: int, state: dict[str, Any]) -> bytes:
    raw = json.dumps(state, separators=(",", ":")).encode()
    body = varuint(1) + varuint(client_id) + varuint(clock) + varuint(len(raw)) + raw
    return bytes((AWARENESS,)) + varuint(len(body)) + body


def now_us() -> int:
    return time.monotonic_ns() // 1000


def percentiles(values: list[float]) -> dict[str, float | int | None]:
    """Nearest-rank p50/p95/p99 plus max/mean/n (None when empty), in ms."""
    if not values:
        return {"p50": None, "p95": None, "p99": None, "max": None, "mean": None, "n": 0}
    data = sorted(values)
    n = len(data)

    def rank(p: float) -> float:
        return data[max(0, min(n - 1, -(-int(p * n) // 100) - 1))]

    return {
        "p50": rank(50), "p95": rank(95), "p99": rank(99), "max": data[-1],
        "mean": sum(data) / n, "n": n,
    }  # fmt: skip


class Probe:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.hosts = [h.rstrip("/") for h in args.hosts.split(",") if h]
        self.win_start = self.win_end = 0.0  # monotonic seconds
        self.stop_typing = asyncio.Event()
        self.stopping = False
        self.ack_ms: list[float] = []
        self.delivery_ms: list[float] = []
        self.ack_series: list[tuple[float, float]] = []  # (seconds into window, ms)
        self.delivery_series: list[tuple[float, float]] = []
        self.rtt_ms: dict[int, list[float]] = {}  # node -> query-awareness round trips
        self.lag_ms: list[float] = []  # the probe's own event-loop lag
        self.pg_ms: list[float] = []  # single-row INSERT+COMMIT on the same PostgreSQL
        self.sent_window = 0  # inserts sent inside the window
        self.expected = 0  # deliveries expected for them (readers connected at send)
        self.delivered = 0
        self.acked_window = 0
        self.errors: Counter[str] = Counter()
        self.connected = 0
        self.readers_by_room: dict[int, int] = Counter()

    def in_window(self, t_us: int) -> bool:
        return self.win_start * 1e6 <= t_us < self.win_end * 1e6

    async def client(self, room: int, member: int, ready: asyncio.Queue[bool]) -> None:
        a = self.args
        n = len(self.hosts)
        typist = member == 0
        if typist:
            node = room % n
        else:
            others = [i for i in range(n) if i != room % n] or [room % n]
            node = others[(member - 1) % len(others)]
        url = f"{self.hosts[node]}/{a.doc_prefix}-{room}?draftroom=1"
        doc = Doc()
        text = doc.get("text", type=Text)
        state: dict[str, Any] = {"sent": 0, "length": 0, "synced": asyncio.Event()}
        pending: list[tuple[int, int, bool]] = []  # (message number, t_us, in window)
        client_id = random.getrandbits(31)
        try:
            ws = await asyncio.wait_for(
                connect(url, compression=None, max_size=None, open_timeout=20), 25
            )
        except Exception as exc:
            self.errors[f"connect: {type(exc).__name__}"] += 1
            await ready.put(False)
            return

        async def reader() -> None:
            try:
                async for frame in ws:
                    if isinstance(frame, str) or not frame:
                        continue
                    kind = frame[0]
                    if kind == SYNC:
                        sub = frame[1]
                        if sub == UPDATE:
                            if b"~" in frame:
                                t = now_us()
                                for m in MARKER.finditer(frame):
                                    sent = int(m.group(3))
                                    if self.in_window(sent):
                                        ms = (t - sent) / 1000
                                        self.delivery_ms.append(ms)
                                        self.delivery_series.append(
                                            (sent / 1e6 - self.win_start, ms)
                                        )
                                        self.delivered += 1
                        elif sub == STEP1:
                            state["sent"] += 1
                            reply = doc.get_update(sync_payload(frame)) if typist else EMPTY_UPDATE
                            await ws.send(sync_frame(STEP2, reply))
                        elif sub == STEP2:
                            if typist:
                                payload = sync_payload(frame)
                                if len(payload) > 2:
                                    doc.apply_update(payload)
                                    state["length"] = len(text)
                            state["synced"].set()
                    elif kind == APP:
                        msg = msgpack.unpackb(frame[1:], raw=False)
                        if msg.get("type") == "saved":
                            upto = msg.get("upto", 0)
                            t = now_us()
                            i = 0
                            while i < len(pending) and pending[i][0] <= upto:
                                _, t_sent, counted = pending[i]
                                if counted:
                                    ms = (t - t_sent) / 1000
                                    self.ack_ms.append(ms)
                                    self.ack_series.append((t_sent / 1e6 - self.win_start, ms))
                                    self.acked_window += 1
                                i += 1
                            del pending[:i]
                        elif msg.get("type") == "error":
                            self.errors[f"app error: {msg.get('code')}"] += 1
            except ConnectionClosed:
                pass
            except Exception as exc:
                self.errors[f"reader: {type(exc).__name__}"] += 1
            if not self.stopping:
                rc = ws.close_code if ws.close_code is not None else 1006
                self.errors[f"closed: {rc}"] += 1

        rtask = asyncio.get_running_loop().create_task(reader())
        try:
            await ws.send(sync_frame(STEP1, b"\x00"))
            await asyncio.wait_for(state["synced"].wait(), 20)
        except Exception as exc:
            self.errors[f"sync: {type(exc).__name__}"] += 1
            await ready.put(False)
            rtask.cancel()
            with contextlib.suppress(Exception):
                await ws.close()
            return
        self.connected += 1
        if not typist:
            self.readers_by_room[room] += 1
        await ready.put(True)

        interval = a.interval_ms / 1000
        seq = 0
        clock = 0
        loop = asyncio.get_running_loop()
        next_insert = loop.time() + random.uniform(0, interval)
        next_aw = loop.time() + random.uniform(0.5, a.awareness_s)
        try:
            while not self.stop_typing.is_set() and not rtask.done():
                now = loop.time()
                due = min(next_aw, next_insert) if typist else next_aw
                if due > now:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.stop_typing.wait(), min(due - now, 1.0))
                    continue
                if typist and now >= next_insert:
                    seq += 1
                    t = now_us()
                    marker = f"~{room}.{seq}.{t}~ "
                    before = doc.get_state()
                    text.insert(state["length"], marker)
                    state["length"] += len(marker)
                    frame = sync_frame(UPDATE, doc.get_update(before))
                    state["sent"] += 1
                    counted = self.in_window(t)
                    if counted:
                        self.sent_window += 1
                        self.expected += self.readers_by_room[room]
                    pending.append((state["sent"], t, counted))
                    await ws.send(frame)
                    next_insert += interval * random.uniform(0.8, 1.2)
                    if next_insert < now:
                        next_insert = now + interval
                if now >= next_aw:
                    clock += 1
                    cur = state["length"] if typist else random.randint(0, 400)
                    st = {
                        "user": {"name": f"probe{room}.{member}"},
                        "cursor": {"anchor": cur, "head": cur},
                    }
                    await ws.send(awareness_frame(client_id, clock, st))
                    next_aw = now + a.awareness_s * random.uniform(0.7, 1.3)
        except ConnectionClosed:
            pass
        # drain: stay connected (readers keep reading) until told to stop
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), a.drain + 30)
        rtask.cancel()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ws.close(), 3)

    async def pinger(self, node: int) -> None:
        """Node responsiveness without storage or Redis: a lone client in its own room
        sends query-awareness (type 3) every 100 ms; the node answers from memory."""
        a = self.args
        url = f"{self.hosts[node]}/{a.doc_prefix}-ping-{node}"
        rtts = self.rtt_ms.setdefault(node, [])
        try:
            ws = await asyncio.wait_for(connect(url, compression=None, open_timeout=20), 25)
        except Exception as exc:
            self.errors[f"ping connect: {type(exc).__name__}"] += 1
            return
        got = asyncio.Event()

        async def reader() -> None:
            with contextlib.suppress(ConnectionClosed):
                async for frame in ws:
                    if isinstance(frame, bytes) and frame[:1] == bytes((AWARENESS,)):
                        got.set()
                    elif isinstance(frame, bytes) and frame[:2] == bytes((SYNC, STEP1)):
                        await ws.send(sync_frame(STEP2, EMPTY_UPDATE))

        rtask = asyncio.get_running_loop().create_task(reader())
        try:
            await ws.send(sync_frame(STEP1, b"\x00"))
            await ws.send(awareness_frame(random.getrandbits(31), 1, {"ping": node}))
            await asyncio.sleep(0.5)
            while not self.stop_typing.is_set() and not rtask.done():
                got.clear()
                t = time.monotonic()
                await ws.send(b"\x03")
                try:
                    await asyncio.wait_for(got.wait(), 5)
                except TimeoutError:
                    self.errors[f"ping timeout node{node}"] += 1
                    continue
                if self.win_start <= t < self.win_end:
                    rtts.append((time.monotonic() - t) * 1000)
                await asyncio.sleep(0.1)
        except ConnectionClosed:
            pass
        finally:
            rtask.cancel()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 3)

    async def pg_commits(self) -> None:
        """Commit latency of the cluster's PostgreSQL itself: one single-row INSERT
        (its own transaction, fsync on) every 100 ms on a scratch table."""
        import asyncpg

        try:
            conn = await asyncio.wait_for(asyncpg.connect(self.args.pg_url), 10)
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS loadtest_probe (id bigserial PRIMARY KEY, b bytea)"
            )
        except Exception as exc:
            self.errors[f"pg connect: {type(exc).__name__}"] += 1
            return
        try:
            while not self.stop_typing.is_set():
                t = time.monotonic()
                await asyncio.wait_for(
                    conn.execute("INSERT INTO loadtest_probe (b) VALUES ($1)", b"x" * 40), 10
                )
                if self.win_start <= t < self.win_end:
                    self.pg_ms.append((time.monotonic() - t) * 1000)
                await asyncio.sleep(0.1)
        except Exception as exc:
            self.errors[f"pg: {type(exc).__name__}"] += 1
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 3)

    async def lag_monitor(self) -> None:
        """The probe's own scheduling delay: how late a 10 ms sleep wakes up."""
        while not self.stop_typing.is_set():
            t = time.monotonic()
            await asyncio.sleep(0.01)
            if self.win_start <= t < self.win_end:
                self.lag_ms.append(max(0.0, (time.monotonic() - t - 0.01) * 1000))

    def series(self, samples: list[tuple[float, float]], step: float) -> list[dict[str, Any]]:
        buckets: dict[int, list[float]] = {}
        for t, ms in samples:
            buckets.setdefault(int(t // step), []).append(ms)
        out = []
        for b in sorted(buckets):
            pc = percentiles(buckets[b])
            out.append({"t": b * step, "n": pc["n"], "p50": pc["p50"], "p99": pc["p99"],
                        "max": pc["max"]})  # fmt: skip
        return out

    async def run(self) -> dict[str, Any]:
        a = self.args
        self._closing = asyncio.Event()
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        self.win_start = t0 + a.start_delay
        self.win_end = self.win_start + a.duration
        # loop.time() is monotonic seconds; markers use monotonic_ns: same clock on Linux
        offset = time.monotonic() - loop.time()
        self.win_start += offset
        self.win_end += offset
        ready: asyncio.Queue[bool] = asyncio.Queue()
        extras = [loop.create_task(self.pinger(i)) for i in range(len(self.hosts))]
        extras.append(loop.create_task(self.lag_monitor()))
        if a.pg_url:
            extras.append(loop.create_task(self.pg_commits()))
        tasks = []
        for room in range(a.rooms):
            for member in range(a.room_size):
                tasks.append(loop.create_task(self.client(room, member, ready)))
                await asyncio.sleep(0.01)
        for _ in tasks:
            await asyncio.wait_for(ready.get(), 60)
        print(f"probe: {self.connected}/{len(tasks)} clients synced", file=sys.stderr, flush=True)
        await asyncio.sleep(max(0.0, self.win_end - time.monotonic()))
        self.stop_typing.set()
        deadline = time.monotonic() + a.drain
        while time.monotonic() < deadline:  # bounded poll of two counters
            if self.delivered >= self.expected and self.acked_window >= self.sent_window:
                break
            await asyncio.sleep(0.05)
        self.stopping = True
        self._closing.set()
        await asyncio.wait_for(asyncio.gather(*tasks, *extras, return_exceptions=True), 30)
        cross = len(self.hosts) > 1
        return {
            "clients": len(tasks),
            "connected": self.connected,
            "rooms": a.rooms,
            "nodes": len(self.hosts),
            "cross_node_delivery": cross,
            "window_s": a.duration,
            "inserts_sent": self.sent_window,
            "acks_received": self.acked_window,
            "acks_missing": self.sent_window - self.acked_window,
            "deliveries_expected": self.expected,
            "deliveries_received": self.delivered,
            "deliveries_missing": max(0, self.expected - self.delivered),
            "errors": dict(self.errors),
            "ack_ms": percentiles(self.ack_ms),
            "delivery_ms": percentiles(self.delivery_ms),
            "node_rtt_ms": {f"node{i}": percentiles(v) for i, v in sorted(self.rtt_ms.items())},
            "probe_loop_lag_ms": percentiles(self.lag_ms),
            "pg_commit_ms": percentiles(self.pg_ms),
            "series_5s": {
                "ack": self.series(self.ack_series, 5.0),
                "delivery": self.series(self.delivery_series, 5.0),
            },
        }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--hosts", required=True, help="comma-separated ws://…/ws node bases")
    p.add_argument("--rooms", type=int, default=8)
    p.add_argument("--room-size", type=int, default=5)
    p.add_argument("--interval-ms", type=float, default=300.0)
    p.add_argument("--awareness-s", type=float, default=3.0)
    p.add_argument("--start-delay", type=float, default=5.0, help="seconds before the window")
    p.add_argument("--duration", type=float, default=30.0, help="measurement window, seconds")
    p.add_argument("--drain", type=float, default=5.0)
    p.add_argument("--doc-prefix", default=f"probe-{int(time.time())}")
    p.add_argument("--json", help="write the result here")
    p.add_argument("--pg-url", help="also time single-row commits on this PostgreSQL")
    p.add_argument("--timeout", type=float, default=0, help="hard cap (default: window + 120 s)")
    p.add_argument("--no-uvloop", action="store_true")
    a = p.parse_args(argv)
    if not a.no_uvloop:
        with contextlib.suppress(ImportError):
            import uvloop

            asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    cap = a.timeout or (a.start_delay + a.duration + a.drain + 120)
    try:
        result = asyncio.run(asyncio.wait_for(Probe(a).run(), cap))
    except TimeoutError:
        result = {"error": f"probe timed out after {cap:.0f} s"}
    text = json.dumps(result, indent=2)
    if a.json:
        with open(a.json, "w") as f:
            f.write(text + "\n")
    print(text)
    return 0 if "error" not in result else 1


if __name__ == "__main__":
    sys.exit(main())
