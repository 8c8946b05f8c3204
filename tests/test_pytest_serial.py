"""A test marked ``serial`` runs while no other test runs in any xdist worker, and the
others still run side by side (a real pytest -n 2 run in a subprocess)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("xdist")  # the test extra installs it; scripts/test always runs with it

TEST_FILE = """
import os, time
import pytest

def _record(name):
    start = time.monotonic()
    time.sleep(0.3)
    with open(os.environ["SERIAL_LOG"], "a") as log:
        log.write(f"{name} {start} {time.monotonic()}\\n")

@pytest.mark.parametrize("n", range(4))
def test_shared(n):
    _record(f"shared{n}")

@pytest.mark.serial
def test_alone():
    _record("alone")
"""


def test_a_serial_test_overlaps_no_other(tmp_path: Path) -> None:
    for name in ("test_one.py", "test_two.py"):
        (tmp_path / name).write_text(textwrap.dedent(TEST_FILE))
    log = tmp_path / "log"
    env = {**os.environ, "SERIAL_LOG": str(log)}
    env.pop("PYTEST_XDIST_WORKER", None)  # this run may itself be inside a worker
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "devtools.pytest_serial", "-p", "no:cacheprovider",
         "-n", "2", "--dist", "load", "-q", "--rootdir", str(tmp_path),
         "--basetemp", str(tmp_path / "base"), str(tmp_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    spans = [
        (n, float(a), float(b))
        for n, a, b in (line.split() for line in log.read_text().splitlines())
    ]
    assert len(spans) == 10
    for i, (name, start, end) in enumerate(spans):
        if name == "alone":
            others = [o for j, o in enumerate(spans) if j != i and o[1] < end and start < o[2]]
            assert others == [], f"{name} ran beside {others}"
    shared = sorted(s for s in spans if s[0] != "alone")
    assert any(  # the lock is shared by the others: some of them did run at once
        a[1] < b[2] and b[1] < a[2] for i, a in enumerate(shared) for b in shared[i + 1 :]
    )
