"""This process's identity as a claim owner, and whether another owner is still alive.

An owner is a host name, a PID, the process start time and a *realm*: which machine
(``/etc/machine-id``), which boot (``boot_id``) and which PID namespace (the inode of
``/proc/self/ns/pid``) the PID belongs to. A reader judges an owner by its PID only
when it shares the owner's realm; an owner it cannot see (another PID namespace with
the same host name, a PID hidden by ``hidepid=``) is never judged dead, but left to
the lease. All processes of an earlier boot of the same machine are dead.
"""

from __future__ import annotations

import enum
import errno
import os

import attrs

from persistq import processes
from persistq.folder.names import Owner
from persistq.processes import SystemIdentity, process_start, system_identity

_current: Owner | None = None
_realm: str | None = None


class Liveness(enum.Enum):
    """What this process can tell of an owner."""

    ALIVE = "alive"
    DEAD = "dead"
    UNKNOWN = "unknown"
    """Not visible from here (another host, namespace or a hidden PID): judge by lease."""


@attrs.frozen
class Realm:
    """The parsed parts of a realm; "" for a part that could not be read."""

    machine: str
    boot: str
    pid_namespace: str

    @classmethod
    def parse(cls, text: str) -> Realm | None:
        """The realm written as ``text``; None for "" (a name from before realms)."""
        parts = text.split(".")
        if len(parts) != 3:
            return None
        return cls(*parts)

    def __str__(self) -> str:
        return ".".join((self.machine, self.boot, self.pid_namespace))


def _hex(text: str) -> str:
    return "".join(c for c in text.replace("-", "").lower() if c in "0123456789abcdef")


def realm_of(system: SystemIdentity) -> str:
    """The realm of ``system`` as a short token: machine and boot (6 hex digits each)
    and the PID namespace's inode (hex)."""
    inode = system.pid_namespace_inode
    namespace = "" if inode is None else format(inode, "x")
    return str(Realm(_hex(system.machine_id)[:6], _hex(system.boot_id)[:6], namespace))


def current_realm() -> str:
    """The realm of this process: machine, boot and PID namespace, as a short token."""
    global _realm  # noqa: PLW0603 - fixed for the life of a process, read once
    if _realm is None:
        _realm = realm_of(system_identity())
    return _realm


def _after_fork() -> None:
    global _realm, _current  # noqa: PLW0603 - a child is another owner (maybe namespace)
    _realm = _current = None


processes.after_fork_in_child(_after_fork)


def current_owner() -> Owner:
    """The owner identity of the calling process, recomputed after a fork."""
    global _current, _realm  # noqa: PLW0603 - per-process caches, reset in a forked child
    if _current is None:
        pid = os.getpid()
        system = system_identity()
        if _realm is None:
            _realm = realm_of(system)
        _current = Owner(system.hostname, pid, process_start(pid) or 0, _realm)
    return _current


def _pid_exists(pid: int) -> bool:
    """Whether some process has ``pid`` in this PID namespace (kill 0 probes, sends none)."""
    try:
        os.kill(pid, 0)
    except OSError as exc:
        return exc.errno != errno.ESRCH
    return True


def _judge_pid(owner: Owner) -> Liveness:
    start = process_start(owner.pid)
    if start is None:
        # Missing from /proc: gone, a zombie, or hidden from us (hidepid=2).
        if _pid_exists(owner.pid) and not os.path.exists(f"/proc/{owner.pid}"):
            return Liveness.UNKNOWN
        return Liveness.DEAD
    if owner.start in (0, start) or start == 0:
        return Liveness.ALIVE
    return Liveness.DEAD  # the PID now belongs to a later process


def judge(owner: Owner) -> Liveness:
    """Whether ``owner`` runs, is gone, or cannot be judged from this process.

    Judged by PID and start time only within this realm (or for names without one,
    on this host); a machine's earlier boot is over; anything else is UNKNOWN.
    """
    me = current_owner()
    if owner.host != me.host:
        return Liveness.UNKNOWN
    theirs, mine = Realm.parse(owner.realm), Realm.parse(me.realm)
    if theirs is None or mine is None or theirs == mine:
        return _judge_pid(owner)
    same_machine = bool(theirs.machine) and theirs.machine == mine.machine
    if same_machine and theirs.boot and mine.boot and theirs.boot != mine.boot:
        return Liveness.DEAD  # every process of the machine's earlier boot has ended
    return Liveness.UNKNOWN


def is_alive(owner: Owner) -> bool:
    """Whether ``owner`` may still run: only False once it is known to be gone.

    A start time of 0 (recorded where /proc was unavailable) matches any process with
    that PID, so such claims are only taken back once the PID is free.
    """
    return judge(owner) is not Liveness.DEAD


def is_local(owner: Owner) -> bool:
    """Whether ``owner`` can be judged from here (by PID, or as an earlier boot's)."""
    return judge(owner) is not Liveness.UNKNOWN
