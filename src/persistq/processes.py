"""Processes on this host: whether one still runs, and when it started."""

from __future__ import annotations

import os

forks = 0
"""How many forks lie between the first process and this one. An object that saved
this count when it was made was inherited through a fork if the count differs now
(a check cheaper than getpid, for per-record paths)."""


def _count_fork() -> None:
    global forks  # noqa: PLW0603 - a per-process counter, bumped in each forked child
    forks += 1


os.register_at_fork(after_in_child=_count_fork)


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


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this host (a zombie does not)."""
    return process_start(pid) is not None
