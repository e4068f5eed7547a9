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

from persistq.folder.names import Owner, heartbeat_name

log = logging.getLogger(__name__)


def lease_expired(folder: str, owner: Owner, wip: str, lease_seconds: float) -> bool:
    """Whether ``owner``'s claim ``wip`` in ``folder`` is older than ``lease_seconds``.

    Age of the owner's heartbeat, or without one, of the claim itself (the rename that
    claimed the file set its ctime). False if the claim is gone already.
    """
    try:
        beat = os.stat(os.path.join(folder, heartbeat_name(owner))).st_mtime
    except FileNotFoundError:
        try:
            beat = os.stat(os.path.join(folder, wip)).st_ctime
        except FileNotFoundError:
            return False
    return time.time() - beat > lease_seconds


class Heartbeat:
    """Keeps ``<owner>.heartbeat`` in ``folder`` fresh (every third of the lease) until
    stopped; a daemon thread, started at once."""

    def __init__(self, folder: str, owner: Owner, lease_seconds: float) -> None:
        self.path = os.path.join(folder, heartbeat_name(owner))
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
