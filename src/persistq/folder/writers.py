"""Whether a process of this host still has a file open for writing (Linux leases).

``fcntl(F_SETLEASE, F_RDLCK)`` on a read-only descriptor fails with EAGAIN while any
process holds the file open for writing; taken, the lease goes with the descriptor,
closed at once. Where
leases are not available (another OS, a file system without them, a file of another
user without CAP_LEASE) the answer is "no writer known", and ``stable_after=`` remains
the way to wait for writers, as it is for writers on other hosts.
"""

from __future__ import annotations

import contextlib
import enum
import errno
import fcntl
import logging
import os
import uuid

from persistq.folder.owner import current_owner
from persistq.folder.tempnames import temp_name

log = logging.getLogger(__name__)

RECHECK_SECONDS = 0.25
"""How soon a file found open for writing is looked at again without a close event."""

_F_SETLEASE: int | None = getattr(fcntl, "F_SETLEASE", None)
_BUSY = frozenset({errno.EAGAIN, errno.EWOULDBLOCK, errno.EBUSY})
_PROBE_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


def leases_work(folder: str) -> bool:
    """Whether read leases tell writers apart in ``folder``: a lease on a file that no
    one has open for writing must succeed. Some file systems refuse every lease with
    EAGAIN (an NFSv4 client without a delegation); there no writer can be told, and
    this is False. Probes with a temporary file (a hidden name no one reads)."""
    if _F_SETLEASE is None:
        return False
    probe = os.path.join(folder, temp_name("lease-probe", current_owner(), uuid.uuid4().hex[:12]))
    try:
        with open(probe, "x"):
            pass
        fd = os.open(probe, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        log.debug("cannot probe leases in %s (%s)", folder, exc)
        _remove(probe)
        return False
    try:
        fcntl.fcntl(fd, _F_SETLEASE, fcntl.F_RDLCK)
    except OSError as exc:
        log.info(
            "%s: the file system refuses leases (%s); files written in place by this "
            "host are not told apart: use stable_after= for them",
            folder,
            exc.strerror,
        )
        return False
    finally:
        os.close(fd)
        _remove(probe)
    return True


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


class Writing(enum.Enum):
    """What a lease on a file tells of it."""

    NO = "a regular file no process of this host has open for writing"
    YES = "some process of this host has it open for writing"
    UNKNOWN = "cannot tell here (no leases, not a regular file, not ours, or gone)"


def check_writing(path: str) -> Writing:
    """Whether some process of this host has ``path`` open for writing (the file is
    still being written in place). :attr:`Writing.NO` also proves ``path`` a regular
    file and no symbolic link (a lease is only granted on one, and the file is opened
    with ``O_NOFOLLOW``). Three calls: open, fcntl, close."""
    if _F_SETLEASE is None:
        return Writing.UNKNOWN
    try:
        fd = os.open(path, _PROBE_FLAGS)
    except OSError as exc:  # busy: a writer's lease is being broken, it is in use
        return Writing.YES if exc.errno in _BUSY else Writing.UNKNOWN
    try:
        fcntl.fcntl(fd, _F_SETLEASE, fcntl.F_RDLCK)
    except OSError as exc:
        if exc.errno in _BUSY:
            return Writing.YES
        log.debug("cannot take a lease on %s (%s): no writer known", path, exc)
        return Writing.UNKNOWN
    finally:
        os.close(fd)  # releases the lease with the descriptor
    return Writing.NO


def open_for_writing(path: str) -> bool:
    """True if some process of this host has ``path`` open for writing; False if not,
    if it is gone, or if this cannot be told here."""
    return check_writing(path) is Writing.YES
