"""How readers learn of new files: a watchdog observer whose events are hints, and the
ordered index of claimable names that events and rescans keep up to date."""

from __future__ import annotations

import heapq
import logging
import os
import threading
from collections.abc import Callable, Iterable
from typing import Literal, Protocol, TypeAlias

from watchdog.events import (
    FileClosedEvent,
    FileCreatedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver, ObservedWatch
from watchdog.observers.polling import PollingObserver

log = logging.getLogger(__name__)

ObserverChoice: TypeAlias = Literal["native", "polling"]
"""``native``: the platform's events (inotify on Linux); ``polling``: watchdog's
``PollingObserver``, for file systems without events."""

OBSERVER_CHOICES: tuple[ObserverChoice, ...] = ("native", "polling")

_STOPPED_WATCH_NOISE = "InotifyEmitter.queue_events() called when the thread is inactive"


class _DropStoppedWatchNoise(logging.Filter):
    """Drops the ERROR watchdog logs when an inotify watch is stopped while events still
    arrive (watchdog PR #963): the event belongs to the watch being torn down, and
    ignoring it is right. Readers pause and stop watches as a matter of course, so the
    record would only alarm; every other record of watchdog's passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != _STOPPED_WATCH_NOISE


logging.getLogger("watchdog.observers.inotify").addFilter(_DropStoppedWatchNoise())


class _Collector(FileSystemEventHandler):
    """Collects ``(name, appeared)`` for the base names events mention; wakes waiters.

    A file closed after writing counts as appeared: a reader that held it back while
    it was being written looks at it again."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()
        self.names: list[tuple[str, bool]] = []
        self.wake = threading.Event()

    def dispatch(self, event: FileSystemEvent) -> None:
        src = os.path.basename(os.fsdecode(event.src_path))
        if event.dest_path:
            dest = os.path.basename(os.fsdecode(event.dest_path))
            names = [(src, False), (dest, True)]
        else:
            names = [(src, True)]
        with self.lock:
            self.names.extend(names)
        self.wake.set()


class Watcher:
    """Watches one folder; ``take()`` returns the names events mentioned since last time.

    Events are hints only: the caller's listing of the folder stays the truth. When the
    observer cannot start (no inotify watches left, an unsupported file system) or dies
    later (a share disconnects), ``healthy`` turns False and a warning is logged once, so
    the caller falls back to polling.
    """

    def __init__(self, folder: str, choice: ObserverChoice, poll_interval: float) -> None:
        self.folder = folder
        self._collector = _Collector()
        self._observer: BaseObserver | None = None
        self._watch: ObservedWatch | None = None
        self._warned = False
        try:  # Observer() may already open the inotify instance (none left: EMFILE)
            observer: BaseObserver = (
                PollingObserver(timeout=poll_interval) if choice == "polling" else Observer()
            )
            self._watch = self._schedule(observer)
            observer.daemon = True
            observer.start()
        except (OSError, RuntimeError) as exc:
            self._cannot_watch(exc)
            return
        self._observer = observer

    def _schedule(self, observer: BaseObserver) -> ObservedWatch:
        return observer.schedule(
            self._collector,
            self.folder,
            event_filter=[FileCreatedEvent, FileMovedEvent, FileClosedEvent],
        )

    def _cannot_watch(self, exc: Exception) -> None:
        log.warning(
            "cannot watch %s for file-system events (%s); polling instead", self.folder, exc
        )
        self._warned = True

    @property
    def paused(self) -> bool:
        """Whether events are switched off by :meth:`pause` (not by a failure)."""
        return self._observer is not None and self._watch is None

    def pause(self) -> None:
        """Stop receiving events (a reader with a backlog does not need them)."""
        if self._observer is not None and self._watch is not None:
            self._observer.unschedule(self._watch)
            self._watch = None

    def resume(self) -> None:
        """Receive events again; events between pause and resume are lost (rescan after)."""
        if self._observer is not None and self._watch is None:
            try:
                self._watch = self._schedule(self._observer)
            except (OSError, RuntimeError) as exc:
                self._cannot_watch(exc)
                self.stop()

    @property
    def healthy(self) -> bool:
        """Whether events still arrive: the observer and its emitters are alive."""
        obs = self._observer
        ok = obs is not None and obs.is_alive() and all(e.is_alive() for e in obs.emitters)
        ok = ok and (self._watch is None or bool(obs and obs.emitters))
        if not ok and not self._warned:
            self._warned = True
            log.warning("file-system observer of %s stopped; polling instead", self.folder)
        return ok

    def take(self) -> list[tuple[str, bool]]:
        """``(name, appeared)`` per name that events mentioned since the last call, in order:
        ``appeared`` is False for the source of a rename (the name went away)."""
        c = self._collector
        with c.lock:
            c.wake.clear()
            names, c.names = c.names, []
        return names

    def wait(self, timeout: float) -> bool:
        """Block until an event arrives or ``timeout`` seconds pass; True on an event."""
        return self._collector.wake.wait(max(timeout, 0.0))

    def stop(self) -> None:
        """Stop the observer thread (idempotent)."""
        obs, self._observer, self._watch = self._observer, None, None
        if obs is not None:
            obs.stop()
            if obs.is_alive() and obs is not threading.current_thread():
                obs.join(timeout=5)


SortKey: TypeAlias = Callable[[str], object]


class CandidateIndex(Protocol):
    """The names a reader may claim, handed out in batches (one name, or one group)."""

    def __len__(self) -> int: ...

    def __contains__(self, name: object) -> bool: ...

    def add(self, name: str) -> bool:
        """Add ``name``; True if it was new."""
        ...

    def discard(self, name: str) -> None:
        """Forget ``name``."""
        ...

    def replace(self, names: Iterable[str]) -> list[str]:
        """Hold exactly ``names``; return those that were new."""
        ...

    def ready(self) -> bool:
        """Whether a batch can be popped."""
        ...

    def pop_batch(self) -> list[str] | None:
        """Remove and return the next batch to claim (all or none), or None."""
        ...


class OrderedIndex:
    """The message names a reader may claim, in sort order; O(log n) per add and pop.

    Names are hints: the file may have been claimed by another reader by the time it is
    popped, which the claim itself discovers.
    """

    def __init__(self, key: SortKey) -> None:
        self._key = key
        self._heap: list[tuple[object, str]] = []
        self._members: set[str] = set()

    def __len__(self) -> int:
        return len(self._members)

    def __contains__(self, name: object) -> bool:
        return name in self._members

    def add(self, name: str) -> bool:
        """Add ``name`` unless present; True if it was new."""
        if name in self._members:
            return False
        self._members.add(name)
        heapq.heappush(self._heap, (self._key(name), name))
        return True

    def ready(self) -> bool:
        """Whether some name is indexed."""
        return bool(self._members)

    def pop_batch(self) -> list[str] | None:
        """Remove and return ``[first name]``, or None when empty."""
        while self._heap:
            _, name = heapq.heappop(self._heap)
            if name in self._members:
                self._members.discard(name)
                return [name]
        return None

    def discard(self, name: str) -> None:
        """Forget ``name`` (its heap entry is dropped lazily)."""
        self._members.discard(name)

    def replace(self, names: Iterable[str]) -> list[str]:
        """Make the index hold exactly ``names``; return those that were not in it."""
        wanted = set(names)
        added = [n for n in wanted if n not in self._members]
        if len(self._heap) > 2 * len(wanted) + 64:
            self._heap = [entry for entry in self._heap if entry[1] in wanted]
            heapq.heapify(self._heap)
        self._members &= wanted
        for name in added:
            self.add(name)
        return added
