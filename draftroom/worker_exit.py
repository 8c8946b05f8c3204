"""Worker processes (exports, CPU-heavy agents) end when their server does.

A ``ProcessPoolExecutor`` shuts its workers down when the server exits cleanly,
but after a ``kill -9`` (or an out-of-memory kill) nothing does: the workers were
left running, holding memory and, for exports, half-written files. And a worker
forked or spawned by a server may start with the server's signal dispositions, so
SIGTERM from an operator did nothing.

``tie_to_parent`` is every pool's initializer. On Linux the kernel sends the
worker SIGTERM when its parent dies (``PR_SET_PDEATHSIG``), and a daemon thread
waits on a pidfd of the server and exits with it. Elsewhere the thread polls
(``os.getppid()`` changes when a process is re-parented). The thread matters for
a forkserver's children: their parent is the forkserver, which does not exit
while it has children, so the kernel's signal alone never comes.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import select
import signal
import sys
import threading
import time

PR_SET_PDEATHSIG = 1
CHECK_SECONDS = 1.0


def tie_to_parent(server_pid: int | None = None) -> None:
    """Pool initializer. ``server_pid``: the server, when it is not this process's
    parent (a forkserver's children); by default the parent."""
    parent = os.getppid()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the kernel was told to care
        os._exit(1)
    watched = server_pid or parent
    threading.Thread(target=_watch, args=(watched,), name="server-watch", daemon=True).start()


def _watch(pid: int) -> None:
    try:
        fd = os.pidfd_open(pid)  # Linux: readable once the process has exited
    except ProcessLookupError:
        os._exit(1)
    except (AttributeError, OSError):
        fd = None
    if fd is not None:
        select.select([fd], [], [])
        os._exit(1)
    parent = os.getppid()
    while _alive(pid) and (pid != parent or os.getppid() == parent):
        time.sleep(CHECK_SECONDS)
    os._exit(1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
