"""This process's identity as a claim owner, and whether another owner is still alive."""

from __future__ import annotations

import os
import socket

from persistq.folder.names import Owner

_current: Owner | None = None


def process_start(pid: int) -> int | None:
    """Start time of process ``pid`` in clock ticks after boot; 0 without /proc; None if
    gone (exited, or a zombie not yet reaped).

    Reads field 22 of ``/proc/<pid>/stat`` (the command name in field 2 may hold spaces
    and parentheses, so fields are counted after its closing parenthesis).
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except FileNotFoundError:
        return None if os.path.isdir("/proc/self") else _start_without_proc(pid)
    except OSError:
        return _start_without_proc(pid)
    fields = stat[stat.rindex(b")") + 2 :].split()
    if fields[0] in (b"Z", b"X"):
        return None  # a zombie is dead; only its exit status waits to be collected
    return int(fields[19])


def _start_without_proc(pid: int) -> int | None:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return 0


def current_owner() -> Owner:
    """The owner identity of the calling process, recomputed after a fork."""
    global _current  # noqa: PLW0603 - a per-process cache, reset when the PID changes
    pid = os.getpid()
    if _current is None or _current.pid != pid:
        _current = Owner(socket.gethostname(), pid, process_start(pid) or 0)
    return _current


def is_alive(owner: Owner) -> bool:
    """Whether ``owner``, a process on this host, still runs (same PID and start time).

    A start time of 0 (recorded where /proc was unavailable) matches any process with
    that PID, so such claims are only taken back once the PID is free.
    """
    start = process_start(owner.pid)
    if start is None:
        return False
    return owner.start in (0, start) or start == 0


def is_local(owner: Owner) -> bool:
    """Whether ``owner`` ran on this host."""
    return owner.host == current_owner().host
