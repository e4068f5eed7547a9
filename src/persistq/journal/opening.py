"""Opening journals, pointers and temporary files: regular files only, never followed.

A FIFO named like a journal would block a reader for good, a symbolic link to
``/dev/zero`` would feed it for ever, and a dangling symbolic link named like this
process's journal would make it create a file outside the pickup directory. So every
open is ``O_NOFOLLOW | O_NONBLOCK`` and checked with ``fstat`` before use.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import time

from persistq.errors import NotRegularFileError

_SAFE = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_LOCK_TRIES = 200


def _what(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def open_regular(path: str, flags: int, *, create: bool = False, mode: int = 0o666) -> int:
    """Open regular file ``path`` with ``flags``; with ``create``, only as a new file.

    Raises NotRegularFileError naming ``path`` for anything else (symbolic links
    included), FileNotFoundError when it is missing and FileExistsError when
    ``create`` finds a regular file there."""
    extra = os.O_CREAT | os.O_EXCL if create else 0
    try:
        fd = os.open(path, flags | extra | _SAFE, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP or (exc.errno == errno.EEXIST and os.path.islink(path)):
            raise NotRegularFileError(path, "a symbolic link") from None
        if exc.errno in (errno.ENXIO, errno.EISDIR):  # a FIFO without a reader, a directory
            raise NotRegularFileError(path, _what(os.lstat(path).st_mode)) from None
        raise
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise NotRegularFileError(path, _what(st.st_mode))
    return fd


def open_or_create(path: str, flags: int) -> tuple[int, bool]:
    """Open regular file ``path``, creating it if missing; return the descriptor and
    whether it was created (see :func:`open_regular`)."""
    while True:
        try:
            return open_regular(path, flags), False
        except FileNotFoundError:
            pass
        try:
            return open_regular(path, flags, create=True), True
        except FileExistsError:
            continue  # another process created it meanwhile: open that one


def hold_shared(fd: int) -> None:
    """Take the shared lock that marks a journal as open for writing (see :func:`in_use`);
    kept until the descriptor closes, released by the kernel when the writer dies. A probe
    holds the lock exclusively for an instant, so a taken lock is retried briefly; a file
    system without locks (or a lock held for longer) leaves no mark, and liveness then
    falls back to the writer's PID."""
    for _ in range(_LOCK_TRIES):
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            time.sleep(0.001)
        except OSError as exc:
            if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
                return
            raise


def in_use(path: str) -> bool | None:
    """Whether some process, in any PID namespace on this host (or a client of the same
    network file system), holds journal ``path`` open for writing; None where the file
    system keeps no locks. A killed writer's lock is gone with it."""
    try:
        fd = open_regular(path, os.O_RDONLY)
    except (FileNotFoundError, NotRegularFileError):
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return None
    finally:
        os.close(fd)  # and with it the probe's own lock
    return False
