"""Locks that a job's whole process tree holds: ``flock`` on a lock file, through one
open file description that the job's processes inherit.

An ``flock`` belongs to the open file description, not to a process: every process
that inherited the descriptor holds the lock, and it is released only when the last
of them has closed it or ended. So a lock handed to a command (``pass_fds``) stays
held while anything that command started still runs, even after the process that
took the lock (the watcher) was SIGKILLed.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable

POLL_SECONDS = 0.1
"""How often a waiter tries a held lock again."""


def try_lock(path: str) -> int | None:
    """An open descriptor of ``path`` (created if missing) holding an exclusive flock;
    None if another descriptor holds it.

    The descriptor is close-on-exec; pass it to a child with ``pass_fds``. A lock file
    removed by :func:`remove_if_free` between our open and our flock is not a lock any
    more: it is noticed (the path names another file, or none) and the path opened anew.
    """
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        except BaseException:
            os.close(fd)
            raise
        try:
            current = os.stat(path)
        except FileNotFoundError:
            os.close(fd)
            continue
        if current.st_ino == os.fstat(fd).st_ino and current.st_dev == os.fstat(fd).st_dev:
            return fd
        os.close(fd)


def wait_lock(
    path: str, give_up: Callable[[], bool], on_wait: Callable[[], None] | None = None
) -> int | None:
    """:func:`try_lock` until it succeeds (its descriptor) or ``give_up()`` is true
    (None). ``on_wait`` is called once, the first time the lock is found held."""
    waited = False
    while True:
        fd = try_lock(path)
        if fd is not None:
            return fd
        if give_up():
            return None
        if not waited and on_wait is not None:
            on_wait()
        waited = True
        time.sleep(POLL_SECONDS)


def remove_if_free(path: str) -> bool:
    """Remove lock file ``path`` if no descriptor holds it; whether it was removed."""
    try:
        fd = try_lock(path)
    except FileNotFoundError:
        return False
    if fd is None:
        return False
    try:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
    finally:
        os.close(fd)
    return True
