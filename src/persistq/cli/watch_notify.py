"""``persistq watch`` under a service manager with ``Type=notify``: ``READY=1`` once it
watches, ``WATCHDOG=1`` pings from a thread of their own while the dispatcher's loop
goes round (however long a job runs), ``STOPPING=1`` when it begins to stop, and
``STATUS=`` naming the triggers whose jobs run. Without ``NOTIFY_SOCKET`` it does
nothing (see :mod:`persistq.service.notify`)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from persistq.cli.watch_observer import Outcome, WatchObserver
from persistq.service.notify import Notifier

log = logging.getLogger("persistq.cli.watch")


def watchdog_may_ping(now: float, last_beat: float, interval: float) -> bool:
    """Whether the watchdog may say the watcher is alive at ``now``: the dispatcher's
    loop went round within the manager's timeout (twice the ping ``interval``). A
    watcher whose loop is stuck stops pinging, and the manager restarts it."""
    return now - last_beat < 2 * interval


def status_text(path: str, running: dict[str, int], *, stopping: bool) -> str:
    """The one-line status: what runs (trigger and attempt), or that it waits."""
    jobs = ", ".join(
        name if attempt == 1 else f"{name} (attempt {attempt})" for name, attempt in running.items()
    )
    if stopping:
        return f"stopping: finishing {jobs}" if jobs else "stopping"
    return f"running {jobs}" if jobs else f"watching {path}: idle"


class NotifyObserver(WatchObserver):
    """Tells the service manager about the watcher of ``path``."""

    def __init__(
        self, path: str, notifier: Notifier, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.path = path
        self.notifier = notifier
        self._clock = clock
        self._beat = clock()
        self._lock = threading.RLock()  # RLock: stopping() may come from a signal handler
        self._running: dict[str, int] = {}
        self._stopping = False
        self._closed = threading.Event()
        self._watchdog: threading.Thread | None = None
        interval = notifier.watchdog_seconds
        if notifier.enabled and interval is not None:
            self._watchdog = threading.Thread(
                target=self._ping, args=(interval,), name="watchdog", daemon=True
            )
            self._watchdog.start()

    def _ping(self, interval: float) -> None:
        stuck = False
        while not self._closed.wait(interval):
            if watchdog_may_ping(self._clock(), self._beat, interval):
                self.notifier.ping()
                stuck = False
            elif not stuck:
                stuck = True
                log.error(
                    "the watcher's loop has not gone round for %.1f s: no watchdog ping",
                    self._clock() - self._beat,
                )

    def _status(self) -> str:
        return status_text(self.path, self._running, stopping=self._stopping)

    def watching(self) -> None:
        """``READY=1``, with the status."""
        with self._lock:
            self.notifier.ready(self._status())

    def alive(self) -> None:
        """Note that the dispatcher's loop went round: the watchdog may ping."""
        self._beat = self._clock()

    def stopping(self) -> None:
        """``STOPPING=1`` (once), with what is still running."""
        with self._lock:
            if self._stopping:
                return
            self._stopping = True
            self.notifier.stopping(self._status())

    def job_started(self, name: str, attempt: int, waited: float | None) -> None:
        """Name the trigger in the status."""
        with self._lock:
            self._running[name] = attempt
            self.notifier.status(self._status())

    def job_finished(self, name: str, outcome: Outcome, duration: float | None) -> None:
        """Drop the trigger from the status."""
        with self._lock:
            if self._running.pop(name, None) is not None:
                self.notifier.status(self._status())

    def close(self) -> None:
        """Stop the watchdog thread."""
        self._closed.set()
        if self._watchdog is not None:
            self._watchdog.join(timeout=10)
