"""Locust load for Draftroom: y-websocket users in rooms of 5, typing and reading.

Run it through ``loadtests/run.py`` (starts a cluster, the probe, and summarises), or
by hand against running nodes:

    locust -f loadtests/locustfile.py --headless --processes 2 -u 2000 -r 100 -t 80s \
        --host ws://127.0.0.1:8001/ws --ws-hosts ws://127.0.0.1:8001/ws,ws://127.0.0.1:8002/ws

Each user (gevent greenlet, ``websocket-client`` socket, which gevent monkey-patches):

- user ``k`` of Locust worker ``w`` joins document ``<prefix>-w<w>-<k // room_size>``
  (rooms are worker-local so each room really has ``room_size`` members whatever the
  split between worker processes), on node ``k % len(ws_hosts)`` - so a room's members
  are spread over the nodes and part of every room's delivery crosses Redis;
- completes the sync handshake (answers the server's step 1 with step 2, sends its own
  step 1, waits for the server's step 2) -> request event ``sync`` (connect -> synced);
- member 0 of each room (20% with rooms of 5) is a typist: one pycrdt insert every
  ``--typing-interval-ms`` (300 ms, +-20% jitter) carrying a marker
  ``~<user>.<seq>.<monotonic us>~``;
- everyone moves its cursor (an awareness update) every ``--awareness-interval-s``
  (3 s, +-30% jitter).

Request events (request_type ``yjs``):

- ``ack``: a typist's update sent -> the ``saved`` app message whose ``upto`` covers it;
- ``delivery``: a typist's insert -> seen by another member of its room (one event per
  receiving member; markers are found by scanning the raw update bytes, no pycrdt
  decode on receive; the clock is CLOCK_MONOTONIC, system-wide on Linux, so it works
  across worker processes);
- ``connect`` / ``sync``: WebSocket open / handshake done; failures are connection errors;
- ``closed``: failure, the server or the network closed a connection we did not close
  (the exception names the close code); the user reconnects after 1 s.

Locust's own timings carry its scheduling latency (~18 ms floor, far more when its
processes are busy): trust loadtests/probe.py for latency, use these for errors and
orders of magnitude.
"""

from __future__ import annotations

import itertools
import json
import random
import re
import time

import gevent
import gevent.event
import msgpack
import websocket  # websocket-client
from locust import User, constant, events, task
from pycrdt import Doc, Text

from draftroom.crdt.protocol import encode_sync as sync_frame
from draftroom.crdt.protocol import read_varuint
from draftroom.crdt.protocol import write_varuint as varuint

# --- wire helpers (see draftroom/crdt/protocol.py) -----------------------------------------

SYNC, AWARENESS, APP = 0, 1, 100
STEP1, STEP2, UPDATE = 0, 1, 2
EMPTY_STATE_VECTOR = b"\x00"
EMPTY_UPDATE = b"\x00\x00"  # Yjs v1 update: 0 structs, empty delete set
MARKER = re.compile(rb"~(\d+)\.(\d+)\.(\d+)~")
REQUEST_TYPE = "yjs"


def sync_payload(frame: bytes) -> bytes:
    n, pos = read_varuint(frame, 2)
    return frame[pos : pos + n]


def awareness_frame(client_id: int, clock: int, state: dict) -> bytes:
    raw = json.dumps(state, separators=(",", ":")).encode()
    body = varuint(1) + varuint(client_id) + varuint(clock) + varuint(len(raw)) + raw
    return bytes((AWARENESS,)) + varuint(len(body)) + body


def now_us() -> int:
    return time.monotonic_ns() // 1000


# --- options -------------------------------------------------------------------------------


@events.init_command_line_parser.add_listener
def _options(parser) -> None:  # type: ignore[no-untyped-def]
    g = parser.add_argument_group("draftroom")
    g.add_argument(
        "--ws-hosts", default="", help="comma-separated ws://…/ws bases (default --host)"
    )
    g.add_argument("--room-size", type=int, default=5)
    g.add_argument("--typist-every", type=int, default=5, help="1 typist per this many users")
    g.add_argument("--typing-interval-ms", type=float, default=300.0)
    g.add_argument("--awareness-interval-s", type=float, default=3.0)
    g.add_argument("--doc-prefix", default="", help="document id prefix (default: lt-<time>)")


_local_index = itertools.count()
_user_tag = itertools.count(1)


class YjsUser(User):
    wait_time = constant(0)

    def on_start(self) -> None:
        opts = self.environment.parsed_options
        runner = self.environment.runner
        self.worker = int(getattr(runner, "worker_index", 0) or 0)
        self.k = next(_local_index)
        self.tag = self.worker * 1_000_000 + next(_user_tag)
        hosts = [h for h in (getattr(opts, "ws_hosts", "") or "").split(",") if h] or [
            self.host.rstrip("/")
        ]
        room_size = max(1, opts.room_size)
        prefix = opts.doc_prefix or f"lt-{int(time.time()) // 3600}"
        self.doc_id = f"{prefix}-w{self.worker}-{self.k // room_size}"
        self.url = f"{hosts[self.k % len(hosts)]}/{self.doc_id}?draftroom=1"
        self.typist = self.k % max(1, opts.typist_every) == 0
        self.interval = opts.typing_interval_ms / 1000.0
        self.aw_interval = opts.awareness_interval_s
        self.client_id = random.getrandbits(31)
        self.aw_clock = 0
        self.cursor = 0
        self.ws: websocket.WebSocket | None = None
        self.reader: gevent.Greenlet | None = None
        self.stopping = False
        self.next_insert = time.monotonic() + random.uniform(0, self.interval)
        self.next_aw = time.monotonic() + random.uniform(0.5, self.aw_interval)
        self.connect()

    # -- events -----------------------------------------------------------------------------

    def _fire(
        self, name: str, ms: float, exc: BaseException | None = None, length: int = 0
    ) -> None:
        self.environment.events.request.fire(
            request_type=REQUEST_TYPE, name=name, response_time=ms,
            response_length=length, exception=exc, context={},
        )  # fmt: skip

    # -- connection -------------------------------------------------------------------------

    def connect(self) -> None:
        self.doc = Doc()
        self.text = self.doc.get("text", type=Text)
        self.length = 0
        self.seq = 0
        self.sent = 0  # messages counted by the server's `upto` (step 2 + updates)
        self.pending: list[tuple[int, float]] = []  # (message number, perf_counter at send)
        self.synced = gevent.event.Event()
        t0 = time.perf_counter()
        self.t_connect = t0
        try:
            ws = websocket.WebSocket(enable_multithread=True, skip_utf8_validation=True)
            ws.connect(self.url, timeout=20, suppress_origin=True)
            ws.settimeout(None)
        except Exception as exc:
            self._fire("connect", (time.perf_counter() - t0) * 1000, exc)
            self.ws = None
            return
        self._fire("connect", (time.perf_counter() - t0) * 1000)
        self.ws = ws
        self.reader = gevent.spawn(self._read, ws)
        ws.send_binary(sync_frame(STEP1, EMPTY_STATE_VECTOR))
        if not self.synced.wait(20):
            self._fire(
                "sync", (time.perf_counter() - t0) * 1000, TimeoutError("no sync step 2 in 20 s")
            )
            self._drop()

    def _drop(self) -> None:
        ws, self.ws = self.ws, None
        if ws is not None:
            try:
                ws.send_close()
            except Exception:
                pass
            try:
                ws.shutdown()
            except Exception:
                pass
        if self.reader is not None and self.reader is not gevent.getcurrent():
            self.reader.kill(block=False)
        self.reader = None

    def on_stop(self) -> None:
        self.stopping = True
        self._drop()

    def _read(self, ws: websocket.WebSocket) -> None:
        code = None
        try:
            while True:
                opcode, frame = ws.recv_data()
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    code = int.from_bytes(frame[:2], "big") if len(frame) >= 2 else 1005
                    break
                if opcode != websocket.ABNF.OPCODE_BINARY or not frame:
                    continue
                self._handle(ws, frame)
        except gevent.GreenletExit:
            return
        except Exception as exc:
            code = code or f"{type(exc).__name__}: {exc}"
        if not self.stopping and self.ws is ws:
            self._fire("closed", 0, ConnectionError(f"connection closed: {code}"))
            self.ws = None

    def _handle(self, ws: websocket.WebSocket, frame: bytes) -> None:
        kind = frame[0]
        if kind == SYNC:
            sub = frame[1]
            if sub == UPDATE:
                if b"~" in frame:
                    t = now_us()
                    for m in MARKER.finditer(frame):
                        self._fire("delivery", (t - int(m.group(3))) / 1000)
            elif sub == STEP1:
                # our reply is message 1 of the server's `upto` count
                self.sent += 1
                reply = self.doc.get_update(sync_payload(frame)) if self.typist else EMPTY_UPDATE
                ws.send_binary(sync_frame(STEP2, reply))
            elif sub == STEP2:
                if self.typist:
                    payload = sync_payload(frame)
                    if len(payload) > 2:
                        self.doc.apply_update(payload)
                        self.length = len(self.text)
                if not self.synced.is_set():
                    self._fire("sync", (time.perf_counter() - self.t_connect) * 1000)
                    self.synced.set()
        elif kind == APP:
            msg = msgpack.unpackb(frame[1:], raw=False)
            if msg.get("type") == "saved" and self.pending:
                upto = msg.get("upto", 0)
                t = time.perf_counter()
                pending = self.pending
                i = 0
                while i < len(pending) and pending[i][0] <= upto:
                    self._fire("ack", (t - pending[i][1]) * 1000)
                    i += 1
                del pending[:i]
            elif msg.get("type") == "error":
                self._fire("app_error", 0, RuntimeError(f"server error: {msg}"))

    # -- behaviour --------------------------------------------------------------------------

    @task
    def tick(self) -> None:
        if self.ws is None:
            gevent.sleep(1.0)
            if not self.stopping:
                self.connect()
            return
        now = time.monotonic()
        due = min(self.next_aw, self.next_insert if self.typist else self.next_aw)
        if due > now:
            gevent.sleep(min(due - now, 1.0))
            return
        ws = self.ws
        try:
            if self.typist and now >= self.next_insert:
                self._insert(ws)
                self.next_insert += self.interval * random.uniform(0.8, 1.2)
                if self.next_insert < now:  # fell behind: do not burst
                    self.next_insert = now + self.interval
            if now >= self.next_aw:
                self.aw_clock += 1
                self.cursor = self.length if self.typist else random.randint(0, 400)
                state = {
                    "user": {"name": f"u{self.tag}"},
                    "cursor": {"anchor": self.cursor, "head": self.cursor},
                }
                ws.send_binary(awareness_frame(self.client_id, self.aw_clock, state))
                self.next_aw = now + self.aw_interval * random.uniform(0.7, 1.3)
        except Exception as exc:
            if not self.stopping and self.ws is ws:
                self._fire("closed", 0, ConnectionError(f"send failed: {type(exc).__name__}"))
                self._drop()

    def _insert(self, ws: websocket.WebSocket) -> None:
        self.seq += 1
        before = self.doc.get_state()
        marker = f"~{self.tag}.{self.seq}.{now_us()}~ "
        self.text.insert(self.length, marker)
        self.length += len(marker)
        frame = sync_frame(UPDATE, self.doc.get_update(before))
        self.sent += 1
        self.pending.append((self.sent, time.perf_counter()))
        ws.send_binary(frame)
