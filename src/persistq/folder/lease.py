"""Leases for claims across hosts: a reader refreshes a heartbeat file while it may hold
claims, and readers elsewhere take a claim back once its owner's heartbeat is too old.

Heartbeats are compared with this host's clock, so hosts sharing a folder need clocks
that agree to well within the lease.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time

from persistq import processes
from persistq.folder.names import Owner, heartbeat_name

log = logging.getLogger(__name__)


def lease_left(folder: str, owner: Owner, wip: str, lease_seconds: float) -> float | None:
    """Seconds until ``owner``'s claim ``wip`` in ``folder`` outlives ``lease_seconds``
    (negative once it has); None if the claim is gone already.

    Counted from the owner's heartbeat, or without one, from the claim itself (the
    rename that claimed the file set its ctime).
    """
    try:
        beat = os.stat(os.path.join(folder, heartbeat_name(owner))).st_mtime
    except FileNotFoundError:
        try:
            beat = os.stat(os.path.join(folder, wip)).st_ctime
        except FileNotFoundError:
            return None
    return beat + lease_seconds - time.time()


def lease_expired(folder: str, owner: Owner, wip: str, lease_seconds: float) -> bool:
    """Whether ``owner``'s claim ``wip`` in ``folder`` is older than ``lease_seconds``
    (see :func:`lease_left`). False if the claim is gone already."""
    left = lease_left(folder, owner, wip, lease_seconds)
    return left is not None and left < 0


_lock = threading.Lock()
_beating: dict[str, tuple[Heartbeat, int]] = {}
"""Heartbeats of this process by path, with how many holders share each (a producer
and a reader in one process have one owner, so one heartbeat file)."""


def _after_fork() -> None:
    global _lock  # noqa: PLW0603 - a fork may copy the lock while it is held
    _lock = threading.Lock()
    _beating.clear()  # the threads did not survive the fork


processes.after_fork_in_child(_after_fork)


def hold(folder: str, owner: Owner, lease_seconds: float) -> str:
    """Keep ``owner``'s heartbeat in ``folder`` fresh until :func:`let_go` as often as
    it was held; return its path (the key for :func:`let_go`)."""
    path = os.path.join(folder, heartbeat_name(owner))
    with _lock:
        beat, holders = _beating.get(path) or (Heartbeat(path, lease_seconds), 0)
        _beating[path] = (beat, holders + 1)
    return path


def let_go(path: str) -> None:
    """Release one hold of the heartbeat at ``path``; the last one stops and removes it."""
    with _lock:
        entry = _beating.pop(path, None)
        if entry is None:
            return
        beat, holders = entry
        if holders > 1:
            _beating[path] = (beat, holders - 1)
            return
    beat.stop()


class Heartbeat:
    """Keeps the heartbeat file at ``path`` fresh (every third of the lease) until
    stopped; a daemon thread, started at once."""

    def __init__(self, path: str, lease_seconds: float) -> None:
        self.path = path
        self._stop = threading.Event()
        _touch(self.path)
        self._thread = threading.Thread(
            target=self._run, args=(lease_seconds / 3,), name="persistq-heartbeat", daemon=True
        )
        self._thread.start()

    def _run(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                _touch(self.path)
            except OSError:
                log.warning("cannot refresh heartbeat %s", self.path, exc_info=True)

    def stop(self) -> None:
        """Stop refreshing and remove the heartbeat file: this owner holds no lease."""
        self._stop.set()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


def _touch(path: str) -> None:
    with open(path, "a", encoding="utf-8"):
        os.utime(path)
