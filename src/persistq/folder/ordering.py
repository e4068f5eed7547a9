"""Which message names a reader claims, and in which order.

A reader claims the names it knows in sort order. When the name it tried was just
taken by another reader, that reader is most likely claiming the names right after
it, so racing it for each next name would make every other claim fail; instead the
loser jumps ahead (:meth:`OrderedIndex.lost_race`) and the readers leapfrog, each
claiming a run of names in order while the others claim theirs.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Callable, Iterable
from typing import Any, Protocol, TypeAlias

from persistq.folder.names import parse_queued

log = logging.getLogger(__name__)

SortingFunction = Callable[[str], Any]

_complained: set[tuple[str, str]] = set()
"""(kind of complaint, name) already logged by this process: each is logged once."""


def _once(kind: str, name: str) -> bool:
    key = (kind, name)
    if key in _complained:
        return False
    _complained.add(key)
    return True


def sort_key(
    sorting_function: SortingFunction | None, name: str, extension: str
) -> tuple[Any, ...]:
    """The key a message ``name`` sorts by: ``sorting_function`` of its original name
    (default: that name). A file the function fails on sorts after every other, and the
    failure is logged once; a None key sorts as ""."""
    original = parse_queued(name, extension)[0]
    if sorting_function is None:
        return (0, original, name)
    try:
        key = sorting_function(original)
    except Exception:
        if _once("sort", name):
            log.warning("sorting_function failed on %r; sorting it last", original, exc_info=True)
        return (1, name)
    return (0, "" if key is None else key, name)


def claimable(name: str, extension: str) -> bool:
    """Whether message ``name`` can be claimed: a retry name must number an attempt
    (``x.retry0.tsv`` cannot; it is left alone, with a warning once)."""
    if parse_queued(name, extension)[1] >= 1:
        return True
    if _once("attempt", name):
        log.warning(
            "not claiming %s: a retried message is named <name>.retryN%s with N >= 1; "
            "rename it to be processed",
            name,
            extension,
        )
    return False


SPREAD = 16
"""How many names a reader that lost a race for a name sets aside, to claim further on."""

SortKey: TypeAlias = Callable[[str], Any]


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
        """Hold exactly ``names``; return those that were new. Names set aside are
        offered again."""
        ...

    def ready(self) -> bool:
        """Whether a batch can be popped."""
        ...

    def pop_batch(self) -> list[str] | None:
        """Remove and return the next batch to claim (all or none), or None."""
        ...

    def lost_race(self) -> None:
        """The batch just popped was claimed by another reader meanwhile."""
        ...

    def set_aside(self) -> bool:
        """Whether names are set aside that only the next :meth:`replace` (a listing)
        offers again: they may still be in the folder."""
        ...


BULK_ADD = 64
"""A listing that adds more names than this sorts them all at once."""


class OrderedIndex:
    """The message names a reader may claim, in sort order.

    A listing's many new names are sorted at once into a run popped from the front in
    O(1); the few names events add go on a heap (O(log n) each); a pop takes the lesser
    head of the two. Names are hints: the file may have been claimed by another reader
    by the time it is popped, which the claim itself discovers. Then :meth:`lost_race`
    sets the next names aside, so that this reader goes on further ahead; they are
    offered again by the next listing, which every reader makes at the latest when it
    runs out of names to claim (see :class:`~persistq.folder.schedule.WakeSchedule`).
    A reader alone loses no race (only a file taken away by another process, a purge,
    makes it skip), so it claims strictly in order.
    """

    def __init__(self, key: SortKey, spread: int = SPREAD) -> None:
        self._key = key
        self._spread = spread
        self._run: list[tuple[Any, str]] = []
        self._next = 0
        """Where the unpopped part of ``_run`` begins."""
        self._heap: list[tuple[Any, str]] = []
        self._members: set[str] = set()
        self._aside: dict[str, Any] = {}
        """Names set aside after a lost race (a subset of members), with their keys."""

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
        """Whether some name is indexed and not set aside."""
        return len(self._members) > len(self._aside)

    def _pop(self) -> tuple[Any, str] | None:
        """The first live entry not set aside, taken off the run or the heap."""
        run, heap, members, aside = self._run, self._heap, self._members, self._aside
        while True:
            if self._next < len(run) and (not heap or run[self._next] <= heap[0]):
                entry = run[self._next]
                self._next += 1
            elif heap:
                entry = heapq.heappop(heap)
            else:
                self._run, self._next = [], 0  # all popped: free the run
                return None
            if entry[1] in members and entry[1] not in aside:
                return entry

    def pop_batch(self) -> list[str] | None:
        """Remove and return ``[first name]`` not set aside, or None when there is none."""
        entry = self._pop()
        if entry is None:
            return None
        self._members.discard(entry[1])
        return [entry[1]]

    def lost_race(self) -> None:
        """Set the next names aside: :data:`SPREAD` of them, at most half of those
        left, so that the next claim lands beyond the run the winner is claiming."""
        for _ in range(min(self._spread, (len(self._members) - len(self._aside)) // 2)):
            entry = self._pop()
            if entry is None:
                break
            self._aside[entry[1]] = entry[0]

    def set_aside(self) -> bool:
        """Whether names are set aside until the next :meth:`replace`."""
        return bool(self._aside)

    def discard(self, name: str) -> None:
        """Forget ``name`` (its entry is dropped lazily)."""
        self._members.discard(name)
        self._aside.pop(name, None)

    def replace(self, names: Iterable[str]) -> list[str]:
        """Make the index hold exactly ``names`` and offer the names set aside again;
        return those that were not in it."""
        wanted = set(names)
        added = [n for n in wanted if n not in self._members]
        self._members &= wanted
        aside, self._aside = self._aside, {}
        for name, key in aside.items():
            if name in self._members:
                heapq.heappush(self._heap, (key, name))
        if len(added) <= BULK_ADD:
            for name in added:
                self.add(name)
            if len(self._heap) + len(self._run) - self._next > 2 * len(wanted) + 64:
                self._rebuild([])
            return added
        self._members.update(added)
        self._rebuild([(self._key(name), name) for name in added])
        return added

    def _rebuild(self, entries: list[tuple[Any, str]]) -> None:
        """One sorted run of the live entries and ``entries`` (a heap of none)."""
        members = self._members
        entries += (e for e in self._run[self._next :] if e[1] in members)
        entries += (e for e in self._heap if e[1] in members)
        entries.sort()
        self._run, self._next, self._heap = entries, 0, []
