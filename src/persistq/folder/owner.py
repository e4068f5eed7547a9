"""This process's identity as a claim owner, and whether another owner is still alive."""

from __future__ import annotations

import os
import socket

from persistq.folder.names import Owner
from persistq.processes import process_start

_current: Owner | None = None


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
