"""Start-up as an operator sees it: what is logged, and what the CLI refuses."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from devtools.process import free_port


def _log_line(node: Any, needle: str, within: float = 10.0) -> str:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        for line in node.stderr_path.read_text().splitlines():
            if needle in line:
                return str(line)
        time.sleep(0.1)
    raise AssertionError(f"{needle!r} never logged:\n{node.describe_logs()}")


def test_ready_is_logged_with_the_url_once_the_port_is_bound(draftroom_process: Any) -> None:
    node = draftroom_process()
    _log_line(node, f"draftroom ready at http://127.0.0.1:{node.port}")
    messages = [
        line.split('"msg":', 1)[1]
        for line in node.stderr_path.read_text().splitlines()
        if '"msg":' in line
    ]
    # Nothing claims readiness before that (the hub starts before uvicorn binds).
    assert [m for m in messages if "ready" in m] == [f' "draftroom ready at {node.http_url}"}}'], (
        messages
    )


def test_an_unreachable_redis_is_logged_at_start_up(draftroom_process: Any) -> None:
    nowhere = f"redis://127.0.0.1:{free_port()}"
    node = draftroom_process("--redis-url", nowhere)  # still starts and serves alone
    line = _log_line(node, "redis bus down")
    assert '"level": "warning"' in line and "refused" in line.lower(), line


def _draftroom(*args: str, cwd: Path, env: dict[str, str] | None = None) -> Any:
    return subprocess.run(
        [sys.executable, "-m", "draftroom", *args],
        cwd=cwd,
        input="pw-ann-123456\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **(env or {})},
    )


def test_a_bad_log_level_is_a_usage_error(tmp_path: Path) -> None:
    done = _draftroom("serve", "--log-level", "verbose", cwd=tmp_path)
    assert done.returncode == 2 and "invalid choice: 'verbose'" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    done = _draftroom("serve", cwd=tmp_path, env={"DRAFTROOM_LOG_LEVEL": "verbose"})
    assert done.returncode == 2 and "log-level: 'verbose'" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_cli_refuses_to_invent_a_store_in_the_wrong_folder(tmp_path: Path) -> None:
    for args in (["user", "list"], ["user", "delete", "ann"], ["export", "doc", "-f", "md"]):
        done = _draftroom(*args, cwd=tmp_path)
        assert done.returncode == 1 and "no store at" in done.stderr, (args, done.stderr)
    done = _draftroom("user", "create", "ann", "--password-stdin", cwd=tmp_path)
    assert done.returncode == 1 and "--new-store" in done.stderr, done.stderr
    assert list(tmp_path.iterdir()) == [], "a store was created anyway"
    # Asked to, it does; then the other commands find it.
    done = _draftroom("user", "create", "ann", "--password-stdin", "--new-store", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    done = _draftroom("user", "list", cwd=tmp_path)
    assert done.returncode == 0 and "ann\tuser" in done.stdout, done.stderr
