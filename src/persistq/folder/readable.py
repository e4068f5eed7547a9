"""The consumer side of a folder queue: claim by rename, finish, fail, recover."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from queue import Empty
from typing import Any, TypedDict, Unpack

import attrs

from persistq.durability import Durability
from persistq.errors import UpstreamFailureError
from persistq.folder.base import FolderQueueBase
from persistq.folder.files import claim, sync_dirs
from persistq.folder.finishing import fail, finish
from persistq.folder.lease import Heartbeat, lease_expired
from persistq.folder.markers import MarkerBook
from persistq.folder.names import Kind, classify, parse_queued
from persistq.folder.owner import current_owner, is_alive, is_local
from persistq.folder.waking import (
    OBSERVER_CHOICES,
    CandidateIndex,
    ObserverChoice,
    OrderedIndex,
    Watcher,
)
from persistq.sentinels import DONE, FAILED, Sentinel

log = logging.getLogger(__name__)

SAFETY_RESCAN_SECONDS = 2.0
"""With working events, an idle reader still lists the folder this often."""
FULL_RESCAN_SECONDS = 5.0
"""A busy reader lists the folder at least this often (new markers, missed files)."""
FALLBACK_POLL_SECONDS = 0.05
"""Polling interval once events are found missing or the observer died."""
MISSED_GRACE_SECONDS = 2.0
BUSY_RETRY_SECONDS = 0.2
"""How soon a message whose wip name this process still holds is tried again."""
PAUSE_BACKLOG = 64
"""A reader with more candidates than this switches events off until it runs dry."""
"""A file older than this that a rescan finds but no event announced was missed."""

SortingFunction = Callable[[str], Any]


@attrs.define
class _Runtime:
    """Per-process state of a reader: dropped when pickled, rebuilt lazily in the child."""

    pid: int
    index: CandidateIndex
    markers: MarkerBook
    watcher: Watcher | None = None
    last_scan: float | None = None
    degraded: bool = False
    gap: bool = False
    deferred: dict[str, float] = attrs.field(factory=dict)
    seen: dict[str, tuple[int, int, float]] = attrs.field(factory=dict)
    heartbeat: Heartbeat | None = None


class ReaderOptions(TypedDict, total=False):
    """The keyword options every reader takes (see :class:`FolderReader`)."""

    durability: Durability
    poll_interval: float | None
    observer: ObserverChoice
    stable_after: float | None
    max_attempts: int
    lease_seconds: float | None
    failed_directory: str | os.PathLike[str] | None


class FolderReader(FolderQueueBase):
    """What both readers share: claiming, waking, finishing, failing and recovering.

    ``get`` wakes on file-system events (watchdog) and falls back to polling; the folder
    listing stays the truth. While a reader has a backlog it switches events off and
    drains its index, listing the folder at least every ``FULL_RESCAN_SECONDS`` (so a
    new failed marker is seen within that time). At start-up, and before returning
    DONE, the reader takes back wip files of dead owners.

    Keyword options: ``durability`` (``"fsync"``: every claim and task_done is on disk
    before returning), ``poll_interval`` (seconds: poll instead of using events),
    ``observer`` (``"native"`` or ``"polling"``), ``stable_after`` (seconds: only hand
    out files whose size and mtime have not changed for that long), ``max_attempts``
    (tries before ``task_failed`` gives up on a file), ``lease_seconds`` (claims of
    other hosts are taken back when their owner's heartbeat is older than this; every
    reader sharing the folder must then use it), ``failed_directory`` (default
    ``<path>/failed``).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        message_extension: str = ".tsv",
        task_done_directory: str | os.PathLike[str] | None = None,
        *,
        sorting_function: SortingFunction | None = None,
        durability: Durability = "flush",
        poll_interval: float | None = None,
        observer: ObserverChoice = "native",
        stable_after: float | None = None,
        max_attempts: int = 1,
        lease_seconds: float | None = None,
        failed_directory: str | os.PathLike[str] | None = None,
    ) -> None:
        super().__init__(path, message_extension, task_done_directory, durability=durability)
        self.sorting_function = sorting_function
        if observer not in OBSERVER_CHOICES:
            raise ValueError(f"observer must be one of {OBSERVER_CHOICES}; got {observer!r}")
        for option, value in (
            ("poll_interval", poll_interval),
            ("stable_after", stable_after),
            ("lease_seconds", lease_seconds),
        ):
            if value is not None and not value > 0:
                raise ValueError(f"{option} must be a positive number of seconds; got {value!r}")
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1; got {max_attempts!r}")
        self.poll_interval = poll_interval
        self.observer = observer
        self.stable_after = stable_after
        self.max_attempts = max_attempts
        self.lease_seconds = lease_seconds
        self.failed_directory = os.path.abspath(
            os.fspath(failed_directory) if failed_directory else os.path.join(self.path, "failed")
        )
        self._rt: _Runtime | None = None
        self.recover_abandoned()

    # -- pickling: the runtime (observer thread, index) stays in its process ---------------

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_rt"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    # -- ordering -------------------------------------------------------------------------

    def _sort_key(self, name: str) -> tuple[Any, str]:
        original = parse_queued(name, self.message_extension)[0]
        if self.sorting_function is None:
            return (original, name)
        try:
            key = self.sorting_function(original)
        except Exception:
            log.warning("sorting_function failed on %r; sorting it first", original, exc_info=True)
            key = ""
        return ("" if key is None else key, name)

    def _new_index(self) -> CandidateIndex:
        return OrderedIndex(self._sort_key)

    # -- runtime --------------------------------------------------------------------------

    def _runtime(self) -> _Runtime:
        rt = self._rt
        if rt is None or rt.pid != os.getpid():
            rt = _Runtime(os.getpid(), self._new_index(), MarkerBook(self.path))
            if self.poll_interval is None:
                rt.watcher = Watcher(self.path, self.observer, FALLBACK_POLL_SECONDS * 10)
            self._rt = rt
        return rt

    def _events_ok(self, rt: _Runtime) -> bool:
        return rt.watcher is not None and not rt.degraded and rt.watcher.healthy

    def _interval(self, rt: _Runtime) -> float:
        if self._events_ok(rt):
            return SAFETY_RESCAN_SECONDS
        return self.poll_interval or FALLBACK_POLL_SECONDS

    def _note(self, rt: _Runtime, name: str, appeared: bool) -> None:
        kind = classify(name, self.message_extension)
        if kind is Kind.MESSAGE:
            if not appeared:
                rt.index.discard(name)
            elif name not in rt.deferred:
                rt.index.add(name)
        elif kind is Kind.MARKER and appeared:
            rt.markers.note(name)

    def _refresh(self, rt: _Runtime, force: bool) -> bool:
        """Apply pending events; list the folder when due. True if it listed."""
        if rt.watcher is not None:
            for name, appeared in rt.watcher.take():
                self._note(rt, name, appeared)
        now = time.monotonic()
        for name, when in list(rt.deferred.items()):
            if when <= now:
                del rt.deferred[name]
                rt.index.add(name)
        if not force and rt.last_scan is not None:
            elapsed = now - rt.last_scan
            idle = not rt.index.ready()
            if elapsed < FULL_RESCAN_SECONDS and not (idle and elapsed >= self._interval(rt)):
                return False
        self._rescan(rt)
        return True

    def _rescan(self, rt: _Runtime) -> None:
        ext = self.message_extension
        messages: list[str] = []
        markers: list[str] = []
        index = rt.index
        for entry in os.scandir(self.path):
            name = entry.name
            if name in index:  # known messages need no second look
                messages.append(name)
                continue
            kind = classify(name, ext)
            if kind is Kind.MESSAGE:
                if entry.is_file(follow_symlinks=False):  # not a symlink or directory
                    messages.append(name)
            elif kind is Kind.MARKER:
                markers.append(name)
        rt.markers.replace(markers)
        listed = set(messages)
        for name in [n for n in rt.deferred if n not in listed]:
            del rt.deferred[name]
        for name in [n for n in rt.seen if n not in listed]:
            del rt.seen[name]
        added = rt.index.replace(listed.difference(rt.deferred))
        watching = self._events_ok(rt) and rt.watcher is not None and not rt.watcher.paused
        if rt.last_scan is not None and watching and not rt.gap:
            self._check_missed(rt, added)
        rt.gap = not watching
        rt.last_scan = time.monotonic()

    def _check_missed(self, rt: _Runtime, added: list[str]) -> None:
        cutoff = time.time() - MISSED_GRACE_SECONDS
        missed = 0
        for name in added:
            try:
                if os.stat(os.path.join(self.path, name)).st_ctime < cutoff:
                    missed += 1
            except FileNotFoundError:
                continue
        if missed:
            rt.degraded = True
            log.warning(
                "file-system events missed %d file(s) in %s (inotify queue overflow or a "
                "file system without events); polling every %s s instead",
                missed,
                self.path,
                self.poll_interval or FALLBACK_POLL_SECONDS,
            )

    def _is_stable(self, rt: _Runtime, name: str) -> bool | None:
        """With ``stable_after``: True if ``name`` is unchanged long enough; None if gone."""
        if self.stable_after is None:
            return True
        try:
            st = os.stat(os.path.join(self.path, name))
        except FileNotFoundError:
            rt.seen.pop(name, None)
            return None
        now = time.monotonic()
        shape = (st.st_size, st.st_mtime_ns)
        seen = rt.seen.get(name)
        if seen is None or seen[:2] != shape:
            seen = (*shape, now)
            rt.seen[name] = seen
        if now - seen[2] >= self.stable_after:
            rt.seen.pop(name, None)
            return True
        rt.deferred[name] = seen[2] + self.stable_after
        return False

    # -- claiming -------------------------------------------------------------------------

    def _nothing_left(self, rt: _Runtime) -> bool:
        return not rt.index.ready() and not rt.deferred

    def _claim_next(self, rt: _Runtime) -> list[str] | None:
        # A name another reader took meanwhile costs one failing rename: cheaper than
        # listing the folder again (measured in benchmarks/folder_bench.py).
        while (names := rt.index.pop_batch()) is not None:
            stable = [self._is_stable(rt, name) for name in names]
            if not all(stable):
                for name, ok in zip(names, stable, strict=True):
                    if ok:
                        rt.index.add(name)
                continue
            wips = self._claim_all(rt, names)
            if wips is not None:
                return wips
        return None

    def _claim_all(self, rt: _Runtime, names: list[str]) -> list[str] | None:
        """Claim ``names`` in this order, all or none: a partial claim is rolled back."""
        wips: list[str] = []
        for i, name in enumerate(names):
            wip = self._claim(name)
            if wip is None:
                restored = [self._restore(os.path.basename(w)) for w in wips]
                for path in restored:
                    if path is not None:
                        rt.index.add(os.path.basename(path))
                for later in names[i + 1 :]:
                    rt.index.add(later)
                return None
            wips.append(wip)
        return wips

    def _claim(self, name: str) -> str | None:
        wip = self.wip_filename(name)
        try:
            claimed = claim(os.path.join(self.path, name), wip)
        except FileExistsError:
            log.debug("not claiming %s yet: this process still holds %s", name, wip)
            self._runtime().deferred[name] = time.monotonic() + BUSY_RETRY_SECONDS
            return None
        if not claimed:
            return None
        sync_dirs(self.durability, self.path)
        self._holding()
        return wip

    def _get(self, timeout: float | None) -> list[str] | Sentinel:
        rt = self._runtime()
        deadline = None if timeout is None else time.monotonic() + max(timeout, 0) / 1000
        force = False
        while True:
            listed = self._refresh(rt, force)
            force = False
            if rt.markers.any_failed:
                return FAILED
            claimed = self._claim_next(rt)
            if claimed is not None:
                if rt.watcher is not None and len(rt.index) > PAUSE_BACKLOG:
                    rt.watcher.pause()
                    rt.gap = True
                return claimed
            if rt.markers.all_done and self._nothing_left(rt):
                # DONE only on a fresh listing, and after taking back dead owners' claims.
                if listed and not self.recover_abandoned():
                    return DONE
                force = True
            elif rt.watcher is not None and rt.watcher.paused:
                rt.watcher.resume()
                force = True
            else:
                self._wait(rt, deadline, timeout)

    def _wait(self, rt: _Runtime, deadline: float | None, timeout: float | None) -> None:
        """Sleep until an event, the next rescan or stability check, or the deadline."""
        now = time.monotonic()
        if deadline is not None and now >= deadline:
            raise Empty(f"no message in {self.path!r} within {timeout} ms")
        wait = self._interval(rt) - (now - (rt.last_scan or now))
        if rt.deferred:
            wait = min(wait, min(rt.deferred.values()) - now)
        if deadline is not None:
            wait = min(wait, deadline - now)
        wait = max(wait, 0.001)
        if self._events_ok(rt) and rt.watcher is not None:
            rt.watcher.wait(wait)
        else:
            time.sleep(wait)

    # -- finishing ------------------------------------------------------------------------

    def task_done(self, wip_path: str | os.PathLike[str]) -> str | None:
        """Finish a claimed message: move it to ``task_done_directory`` under its original
        name and return that path, or delete it. If an earlier message of that name is
        there, both are kept: this one as ``<name>.againN<ext>`` (a warning says so)."""
        return finish(
            self.path,
            wip_path,
            extension=self.message_extension,
            done_directory=self.task_done_directory,
            durability=self.durability,
        )

    def task_failed(self, wip_path: str | os.PathLike[str], reason: str) -> str:
        """Give up on this attempt at a claimed message; return where the file went.

        Before ``max_attempts`` tries the file goes back to the queue as
        ``<name>.retryN<ext>``; after that it moves to ``failed_directory`` with
        ``<name>.reason.json`` beside it.
        """
        return fail(
            self.path,
            wip_path,
            reason,
            extension=self.message_extension,
            max_attempts=self.max_attempts,
            failed_directory=self.failed_directory,
            durability=self.durability,
        )

    # -- recovery and leases --------------------------------------------------------------

    def recover_abandoned(self) -> list[str]:
        """Rename back the wip files whose owner is gone; return their queued paths.

        Same host: the owner PID no longer runs with the recorded start time. Other
        hosts: only with ``lease_seconds``, once the owner's heartbeat (or, without one,
        the claim itself) is older than the lease. Live owners keep their claims.
        """
        me = current_owner()
        restored: list[str] = []
        for name in self._names(Kind.WIP):
            owner = self._parse_wip(name).owner
            if owner == me:
                continue
            if is_local(owner):
                if is_alive(owner):
                    continue
            elif self.lease_seconds is None or not lease_expired(
                self.path, owner, name, self.lease_seconds
            ):
                continue
            path = self._restore(name)
            if path is not None:
                restored.append(path)
        rt = self._rt
        if rt is not None and rt.pid == os.getpid():
            for path in restored:
                rt.index.add(os.path.basename(path))
        return restored

    def _holding(self) -> None:
        """Keep this reader's heartbeat fresh while it may hold claims (with a lease)."""
        rt = self._runtime()
        if self.lease_seconds is not None and rt.heartbeat is None:
            rt.heartbeat = Heartbeat(self.path, current_owner(), self.lease_seconds)

    # -- ending ---------------------------------------------------------------------------

    def dispose(self) -> None:
        """Stop using the queue: stop the observer and heartbeat (claims stay as they are)."""
        rt, self._rt = self._rt, None
        if rt is None or rt.pid != os.getpid():
            return
        if rt.watcher is not None:
            rt.watcher.stop()
        if rt.heartbeat is not None:
            rt.heartbeat.stop()


class ReadableFolderQueue(FolderReader):
    """Claims message files from a queue folder, one at a time, in ``sorting_function``
    order (default: file name). ``sorting_function`` receives a message's base file
    name and returns its sort key (a string, as in PyMPX); see :class:`FolderReader`
    for the keyword options."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        message_extension: str = ".tsv",
        task_done_directory: str | os.PathLike[str] | None = None,
        sorting_function: SortingFunction | None = None,
        **options: Unpack[ReaderOptions],
    ) -> None:
        super().__init__(
            path,
            message_extension,
            task_done_directory,
            sorting_function=sorting_function,
            **options,
        )

    def get(self, timeout: float | None = None) -> str | Sentinel:
        """The wip path of the next message (claimed by this process), DONE or FAILED.

        ``timeout`` is in milliseconds (None: wait for ever); raises ``queue.Empty`` when
        it passes. FAILED as soon as any producer failed; DONE once every announced
        producer has closed and no message is left. While no producer has announced
        itself, ``get`` waits for messages (and times out), never returning DONE.
        """
        result = self._get(timeout)
        return result[0] if isinstance(result, list) else result

    def mark_all_work_done(self) -> None:
        """Claim and finish (``task_done``) every message until DONE."""
        for msg in self:
            self.task_done(msg)

    def __iter__(self) -> ReadableFolderQueue:
        return self

    def __next__(self) -> str:
        msg = self.get()
        if msg is FAILED:
            self.dispose()
            raise UpstreamFailureError(f"a producer of folder queue {self.path!r} failed")
        if msg is DONE:
            self.dispose()
            raise StopIteration
        return str(msg)
