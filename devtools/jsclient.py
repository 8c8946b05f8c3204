# ruff: noqa: ASYNC109  (per-call `timeout=` args are the point of this API)
"""Drive unmodified JavaScript Yjs / y-websocket clients from async Python tests.

    async with JSHarness() as js:
        await js.open("a", url=proc.ws_base, room="doc1", params={"draftroom": "1"})
        await js.wait_synced("a")
        await js.insert("a", 0, "hello")
        assert await js.text("a") == "hello"

One `node tests/js/harness.mjs` process hosts all clients; commands are JSON lines on its
stdin, replies JSON lines on its stdout (matched by id). Note: y-websocket connects to
`url + "/" + room`, so `url` is the server's ws base (``DraftroomProcess.ws_base``, i.e.
``ws://127.0.0.1:PORT/ws``), not the full document URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import shutil
import signal
import tempfile
from pathlib import Path
from typing import Any

# The harness scripts and their node_modules stay with the tests that pin their versions.
JS_DIR = Path(__file__).resolve().parent.parent / "tests" / "js"
HARNESS = JS_DIR / "harness.mjs"
RELAY = JS_DIR / "relay.mjs"


class JSHarnessError(RuntimeError):
    """A harness command failed (the reply carried `error`), timed out, or node died."""


def find_node() -> str:
    node = os.environ.get("DRAFTROOM_NODE") or shutil.which("node")
    if not node:
        raise JSHarnessError("node not found on PATH (Node 20+ is needed for tests/js)")
    if not (JS_DIR / "node_modules" / "y-websocket").is_dir():
        raise JSHarnessError(
            f"{JS_DIR}/node_modules is missing: run scripts/test (or `npm ci` in tests/js)"
        )
    return node


class JSHarness:
    def __init__(self, default_timeout: float = 15.0, node: str | None = None) -> None:
        self.default_timeout = default_timeout
        self.node = node
        self.proc: asyncio.subprocess.Process | None = None
        self.events: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._ready: asyncio.Future[None] | None = None
        self._stderr_file = tempfile.NamedTemporaryFile(
            prefix="draftroom-js-", suffix=".stderr.log", delete=False
        )
        self.stderr_path = Path(self._stderr_file.name)

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> JSHarness:
        node = self.node or find_node()
        self._ready = asyncio.get_running_loop().create_future()
        self.proc = await asyncio.create_subprocess_exec(
            node,
            str(HARNESS),
            cwd=str(JS_DIR),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=self._stderr_file,
            limit=64 * 1024 * 1024,
        )
        self._reader = asyncio.create_task(self._read_loop(), name="js-harness-reader")
        try:
            await asyncio.wait_for(asyncio.shield(self._ready), 15)
        except (TimeoutError, JSHarnessError) as e:
            await self.stop()
            raise JSHarnessError(f"harness did not start: {e}\n{self.stderr_tail()}") from None
        return self

    async def stop(self) -> None:
        proc = self.proc
        if proc is None:
            return
        if proc.returncode is None:
            with contextlib.suppress(Exception):
                if proc.stdin is not None:
                    proc.stdin.close()  # harness closes all clients and exits on EOF
            try:
                await asyncio.wait_for(proc.wait(), 5)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
                await proc.wait()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        self._fail_pending(JSHarnessError("harness stopped"))
        with contextlib.suppress(Exception):
            self._stderr_file.close()

    async def __aenter__(self) -> JSHarness:
        return await self.start()

    async def __aexit__(self, exc_type: object, *exc: object) -> None:
        await self.stop()
        if exc_type is None:
            self.remove_log()
        else:
            print(f"\n{self.stderr_tail()}")

    def remove_log(self) -> None:
        self.stderr_path.unlink(missing_ok=True)

    def stderr_tail(self, n: int = 40) -> str:
        try:
            lines = self.stderr_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "--- js harness stderr tail:\n" + "\n".join(lines[-n:])

    def _fail_pending(self, exc: BaseException) -> None:
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(exc)
        self._pending.clear()
        if self._ready is not None and not self._ready.done():
            self._ready.set_exception(exc)
            self._ready.exception()  # mark retrieved

    async def _read_loop(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        stdout = self.proc.stdout
        while True:
            line = await stdout.readline()
            if not line:
                break
            try:
                msg = json.loads(line)
            except json.JSONDecodeError:
                self.events.append({"event": "garbage", "line": line.decode(errors="replace")})
                continue
            if "id" in msg and msg["id"] is not None:
                fut = self._pending.pop(msg["id"], None)
                if fut is not None and not fut.done():
                    fut.set_result(msg)
            else:
                if msg.get("event") == "ready" and self._ready and not self._ready.done():
                    self._ready.set_result(None)
                self.events.append(msg)
        rc = await self.proc.wait()
        self._fail_pending(JSHarnessError(f"node harness exited ({rc})\n{self.stderr_tail()}"))

    # -- commands ---------------------------------------------------------------------------

    async def call(self, cmd: str, *, timeout: float | None = None, **args: Any) -> dict[str, Any]:
        """Send one command; return the reply dict (without id/ok); raise JSHarnessError if
        the reply has `error`, on timeout, or if node died."""
        if self.proc is None or self.proc.returncode is not None or self.proc.stdin is None:
            raise JSHarnessError(f"harness not running\n{self.stderr_tail()}")
        req_id = next(self._ids)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[req_id] = fut
        self.proc.stdin.write((json.dumps({"id": req_id, "cmd": cmd, **args}) + "\n").encode())
        await self.proc.stdin.drain()
        t = self.default_timeout if timeout is None else timeout
        try:
            reply = await asyncio.wait_for(fut, t)
        except TimeoutError:
            self._pending.pop(req_id, None)
            raise JSHarnessError(
                f"js command {cmd} {args} got no reply within {t}s\n{self.stderr_tail()}"
            ) from None
        if "error" in reply:
            raise JSHarnessError(f"js command {cmd} {args} failed: {reply['error']}")
        reply.pop("id", None)
        reply.pop("ok", None)
        return reply

    async def _wait(self, cmd: str, timeout: float, **args: Any) -> dict[str, Any]:
        return await self.call(cmd, timeout=timeout + 5, timeout_ms=int(timeout * 1000), **args)

    async def ping(self) -> dict[str, Any]:
        return await self.call("ping")

    async def open(
        self,
        client: str,
        url: str,
        room: str,
        params: dict[str, str] | None = None,
        *,
        draftroom: bool = False,
        connect: bool = True,
        max_backoff_ms: int | None = None,
        awareness: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Create a Y.Doc + WebsocketProvider(url, room). `url` is the ws base (…/ws).
        draftroom=True adds params {"draftroom": "1"} (opt in to app messages / acks)."""
        p = dict(params or {})
        if draftroom:
            p.setdefault("draftroom", "1")
        extra: dict[str, Any] = {}
        if max_backoff_ms is not None:
            extra["max_backoff_ms"] = max_backoff_ms
        if awareness is not None:
            extra["awareness"] = awareness
        return await self.call(
            "open", client=client, url=url, room=room, params=p, connect=connect, **extra
        )

    async def wait_synced(self, client: str, timeout: float = 10.0) -> None:
        await self._wait("wait_synced", timeout, client=client)

    async def wait_text(self, client: str, text: str, timeout: float = 10.0) -> None:
        await self._wait("wait_text", timeout, client=client, text=text)

    async def wait_acks(
        self, client: str, count: int = 1, type: str | None = "saved", timeout: float = 10.0
    ) -> list[dict[str, Any]]:
        """Wait until `client` has seen >= count app messages of `type` (None = any)."""
        r = await self._wait("wait_acks", timeout, client=client, count=count, type=type)
        return list(r["acks"])

    async def wait_awareness(self, client: str, count: int, timeout: float = 10.0) -> None:
        """Wait until `client` sees >= count awareness states (its own included)."""
        await self._wait("wait_awareness", timeout, client=client, count=count)

    async def insert(self, client: str, index: int, text: str) -> int:
        return int((await self.call("insert", client=client, index=index, text=text))["length"])

    async def type(self, client: str, text: str, interval_ms: int = 0) -> int:
        """Append text char by char (one Yjs transaction/update per char)."""
        t = self.default_timeout + len(text) * interval_ms / 1000
        r = await self.call("type", client=client, text=text, interval_ms=interval_ms, timeout=t)
        return int(r["length"])

    async def delete(self, client: str, index: int, length: int) -> int:
        r = await self.call("delete", client=client, index=index, length=length)
        return int(r["length"])

    async def text(self, client: str) -> str:
        return str((await self.call("text", client=client))["text"])

    async def state(self, client: str) -> dict[str, str]:
        """{'update': b64 encodeStateAsUpdate, 'state_vector': b64 encodeStateVector}"""
        return await self.call("state", client=client)

    async def set_awareness(self, client: str, state: dict[str, Any] | None) -> None:
        await self.call("set_awareness", client=client, state=state)

    async def awareness(self, client: str) -> dict[int, Any]:
        """{clientID: state} of every awareness state `client` currently sees."""
        states = (await self.call("awareness", client=client))["states"]
        return {int(k): v for k, v in states.items()}

    async def client_id(self, client: str) -> int:
        return int((await self.call("client_id", client=client))["client_id"])

    async def acks(self, client: str) -> list[dict[str, Any]]:
        """Every Draftroom app message (type 100, msgpack map) `client` received, in order."""
        return list((await self.call("acks", client=client))["acks"])

    async def status(self, client: str) -> dict[str, Any]:
        """connected/connecting/synced flags, statuses, closes (count), close_events
        [{code, reason, local}], terminal_closes, errors, app_messages (count)."""
        return await self.call("status", client=client)

    async def disconnect(self, client: str) -> None:
        await self.call("disconnect", client=client)

    async def connect(self, client: str) -> None:
        await self.call("connect", client=client)

    async def close(self, client: str) -> None:
        """provider.destroy() + doc.destroy(); the name can be reused afterwards."""
        await self.call("close", client=client)

    async def close_all(self) -> int:
        return int((await self.call("close_all"))["closed"])
