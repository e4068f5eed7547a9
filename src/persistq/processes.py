"""Processes on this host: whether one still runs, and when it started."""

from __future__ import annotations

import hashlib
import os
import socket
from collections.abc import Callable
from typing import Literal

import attrs

forks = 0
"""How many forks lie between the first process and this one. An object that saved
this count when it was made was inherited through a fork if the count differs now
(a check cheaper than getpid, for per-record paths)."""

_resets: list[Callable[[], None]] = []


def after_fork_in_child(reset: Callable[[], None]) -> None:
    """Call ``reset`` in each child forked from now on, first thing after the fork: the
    way a module resets what is per process (locks a fork may copy while held, caches
    of this process's identity, bookkeeping of threads that did not survive). The one
    fork hook of persistq; objects compare :data:`forks` instead."""
    _resets.append(reset)


def _in_child() -> None:
    global forks  # noqa: PLW0603 - a per-process counter, bumped in each forked child
    forks += 1
    for reset in _resets:
        reset()


os.register_at_fork(after_in_child=_in_child)


def process_start(pid: int) -> int | None:
    """Start time of process ``pid`` in clock ticks after boot; 0 when it runs but /proc
    does not show it (no /proc, or ``hidepid``); None if gone (exited, or a zombie not
    yet reaped). A process /proc does not show is asked with ``kill(pid, 0)``: never
    "gone" for a process that merely cannot be seen.

    Reads field 22 of ``/proc/<pid>/stat`` (the command name in field 2 may hold spaces
    and parentheses, so fields are counted after its closing parenthesis).
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
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


def _read_text(*paths: str) -> str:
    """The stripped text of the first of ``paths`` that reads as non-empty; "" if none."""
    for path in paths:
        try:
            with open(path, encoding="ascii", errors="replace") as f:
                text = f.read().strip()
        except OSError:
            continue
        if text:
            return text
    return ""


def _pid_namespace_link() -> str:
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


@attrs.frozen
class SystemIdentity:
    """Where this process runs, as the system says now ("" for what cannot be read):
    the one reading of host, machine, boot and PID namespace. Journal names encode it
    as :func:`namespace_id`, claim names as a realm (``persistq.folder.owner``)."""

    hostname: str
    machine_id: str
    """``/etc/machine-id`` (or ``/var/lib/dbus/machine-id``)."""
    boot_id: str
    pid_namespace: str
    """The link ``/proc/self/ns/pid`` names, e.g. ``pid:[4026531836]``."""

    @property
    def pid_namespace_inode(self) -> int | None:
        """The inode number in :attr:`pid_namespace`; None if it was not read."""
        inside = self.pid_namespace.partition("[")[2].rstrip("]")
        return int(inside) if inside.isdigit() else None


def system_identity() -> SystemIdentity:
    """Read :class:`SystemIdentity` now (not cached: a host may be renamed)."""
    return SystemIdentity(
        socket.gethostname(),
        _read_text("/etc/machine-id", "/var/lib/dbus/machine-id"),
        _read_text("/proc/sys/kernel/random/boot_id"),
        _pid_namespace_link(),
    )


def namespace_id() -> str:
    """8 hex digits that differ between hosts, boots and PID namespaces: two processes
    with the same PID and the same id are the same process (if started at the same
    tick). Computed per call; cheap enough for once per journal."""
    system = system_identity()
    identity = "\0".join((system.hostname, system.boot_id, system.pid_namespace))
    return hashlib.sha256(identity.encode("utf-8", "replace")).hexdigest()[:8]


def writer_token(pid: int | None = None) -> str:
    """This process's identity in journal names: ``<namespace_id>-<start tick>``."""
    pid = os.getpid() if pid is None else pid
    return f"{namespace_id()}-{process_start(pid) or 0}"


Liveness = Literal["alive", "dead", "unknown"]


def token_liveness(pid: int, token: str | None) -> Liveness:
    """Whether the writer that named a journal with ``pid`` and ``token`` (see
    :func:`writer_token`; None for a PyMPX name) still runs. A writer of another host,
    boot or PID namespace cannot be seen from here: ``unknown``, never ``dead``."""
    if token is None:
        return "alive" if pid_alive(pid) else "dead"
    namespace, _, start = token.partition("-")
    if namespace != namespace_id():
        return "unknown"
    now = process_start(pid)
    if now is None:
        return "dead"
    return "alive" if now == 0 or str(now) == start else "dead"


def start_epoch(pid: int) -> float | None:
    """When process ``pid`` started, in seconds since the epoch; None if it is gone or
    that cannot be told here (no /proc)."""
    ticks = process_start(pid)
    if not ticks:
        return None
    try:
        with open("/proc/stat", "rb") as f:
            boot = next(int(line.split()[1]) for line in f if line.startswith(b"btime "))
    except (OSError, StopIteration, ValueError):
        return None
    return boot + ticks / os.sysconf("SC_CLK_TCK")
