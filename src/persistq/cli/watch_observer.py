"""What ``persistq watch`` tells its observers (metrics, the service manager): the
watcher's life (watching, stopping, still alive) and each job's start and end.

The watcher's core knows only this interface; the observers that need optional
packages (prometheus-client) live in modules imported only when asked for.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence


class Outcome(enum.Enum):
    """How one attempt of a trigger ended."""

    SUCCEEDED = "succeeded"
    """Exit 0 (or recorded by a job that outlived its watcher): the trigger is done."""
    RETRIED = "retried"
    """Failed; the trigger was given back for another attempt."""
    FAILED = "failed"
    """Failed on its last attempt: the trigger moved to failed/."""
    GIVEN_BACK = "given back"
    """Stopped unfinished (a second signal, a command that cannot run): given back."""


class WatchObserver:
    """Receives the watcher's events; every method does nothing here, an observer
    overrides those it needs. Job events come from the job threads, ``stopping`` may
    come from a signal handler: overrides must be thread-safe and must not block."""

    def watching(self) -> None:
        """The watcher watches: dead watchers' claims are taken over, the queue is open."""

    def alive(self) -> None:
        """The dispatcher's loop went round (several times a second while it works)."""

    def stopping(self) -> None:
        """The watcher began to stop (a signal, idle, or the producers are done); it may
        come more than once."""

    def job_started(self, name: str, attempt: int, waited: float | None) -> None:
        """The command started on trigger ``name``; ``waited``: seconds since the trigger
        arrived (its first attempt only, else None)."""

    def job_finished(self, name: str, outcome: Outcome, duration: float | None) -> None:
        """An attempt of trigger ``name`` ended; ``duration``: seconds its command ran, or
        None when it ran under an earlier watcher (its recorded result was used)."""

    def close(self) -> None:
        """The watcher stopped: release what the observer holds (threads, sockets)."""


class Observers(WatchObserver):
    """Passes each event on to every one of ``observers``, in order."""

    def __init__(self, observers: Sequence[WatchObserver]) -> None:
        self.observers = tuple(observers)

    def watching(self) -> None:
        """Tell every observer."""
        for observer in self.observers:
            observer.watching()

    def alive(self) -> None:
        """Tell every observer."""
        for observer in self.observers:
            observer.alive()

    def stopping(self) -> None:
        """Tell every observer."""
        for observer in self.observers:
            observer.stopping()

    def job_started(self, name: str, attempt: int, waited: float | None) -> None:
        """Tell every observer."""
        for observer in self.observers:
            observer.job_started(name, attempt, waited)

    def job_finished(self, name: str, outcome: Outcome, duration: float | None) -> None:
        """Tell every observer."""
        for observer in self.observers:
            observer.job_finished(name, outcome, duration)

    def close(self) -> None:
        """Close every observer, the last first."""
        for observer in reversed(self.observers):
            observer.close()
