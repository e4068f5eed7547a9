"""When a reader lists its folder, claims, waits or answers: pure decisions, no I/O.

A reader feeds :class:`WakeSchedule` what it knows (:class:`Facts`: the time, whether
events work, what its index and markers say) and gets the next :class:`Step`. The
schedule remembers only times and flags, so it is tested with a fake clock and no
folder. :class:`Deferrals` holds names that may not be claimed yet (a file still
changing, a retry not due, a name this process still holds), and :func:`retry_wait`
says how long a retry waits.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

import attrs

SAFETY_RESCAN_SECONDS = 2.0
"""With working events, an idle reader still lists the folder this often."""
FULL_RESCAN_SECONDS = 5.0
"""A busy reader lists the folder at least this often (new markers, missed files)."""
FALLBACK_POLL_SECONDS = 0.05
"""Polling interval once events are found missing or the observer died."""
MISSED_GRACE_SECONDS = 2.0
"""A file older than this that a listing finds but no event announced was missed."""
BUSY_RETRY_SECONDS = 0.2
"""How soon a message whose wip name this process still holds is tried again."""
PAUSE_BACKLOG = 64
"""A reader with more candidates than this switches events off until it runs dry."""
MIN_WAIT_SECONDS = 0.001


class Action(enum.Enum):
    """What a reader does next."""

    LIST = "list the folder"
    CLAIM = "claim the next batch"
    FAILED = "return FAILED"
    FINISH = "take back dead owners' claims, then return DONE if none"
    RESUME = "switch events back on, then list"
    WAIT = "wait for an event or the next due time"
    EMPTY = "raise queue.Empty"


@attrs.frozen
class Step:
    """The next action; ``seconds`` and ``on_events`` say how to WAIT."""

    action: Action
    seconds: float = 0.0
    on_events: bool = False
    holds_for: float = 0.0
    """CLAIM: for this many seconds the answer stays CLAIM as long as the index stays
    ready and no other fact changes (no event arrives, no held-back name comes due), so
    a reader may claim again without asking."""


@attrs.frozen
class Facts:
    """What the reader knows when it asks for the next step."""

    now: float
    events: bool
    """Events arrive (a healthy watcher, not found missing events)."""
    paused: bool
    """Events were switched off for a backlog."""
    failed: bool
    """Some producer failed (a failed marker, or it is known dead)."""
    all_done: bool
    """Every announced producer has closed."""
    markers_version: int
    """Counts the changes of what the reader knows of its producers."""
    ready: bool
    """The index holds a batch to claim."""
    next_due: float | None = None
    """When the earliest deferred name may be claimed; None if none is deferred."""
    set_aside: bool = False
    """The index set names aside after lost races: they may still be in the folder,
    and only a listing offers them again."""
    deadline: float | None = None
    poll_interval: float | None = None


@attrs.define
class WakeSchedule:
    """Decides listing, claiming, waiting and DONE from :class:`Facts` and its own record.

    DONE needs a listing that *began after* every producer was known to have closed:
    one pass over a directory may miss a file renamed in during the pass yet see the
    done marker written after it, so only a later listing proves the folder empty.
    """

    last_listing: float | None = None
    degraded: bool = False
    """Events were found missing: poll instead (for the life of the reader)."""
    gap: bool = False
    """Events were off during the last listing, so its news prove nothing missed."""
    done_at_listing: int | None = None
    """The markers' version when the last listing began, if every producer was then
    known to have closed; any marker noted since (a new producer) voids it."""
    must_list: bool = False

    def interval(self, facts: Facts) -> float:
        """How long an idle reader waits between listings."""
        if facts.events and not self.degraded:
            return SAFETY_RESCAN_SECONDS
        return facts.poll_interval or FALLBACK_POLL_SECONDS

    def _listing_due(self, facts: Facts) -> bool:
        if self.must_list or self.last_listing is None:
            return True
        elapsed = facts.now - self.last_listing
        return elapsed >= FULL_RESCAN_SECONDS or (
            not facts.ready and elapsed >= self.interval(facts)
        )

    def next_step(self, facts: Facts) -> Step:  # noqa: PLR0911 - one return per rule
        """The next step for ``facts``: the first rule that applies, in this order."""
        if facts.failed:
            return Step(Action.FAILED)
        if self._listing_due(facts):
            return Step(Action.LIST)
        if facts.ready:
            listed = facts.now if self.last_listing is None else self.last_listing
            return Step(Action.CLAIM, holds_for=listed + FULL_RESCAN_SECONDS - facts.now)
        if facts.set_aside:
            return Step(Action.LIST)
        if facts.all_done and facts.next_due is None:
            if self.done_at_listing == facts.markers_version:
                return Step(Action.FINISH)
            return Step(Action.LIST)
        if facts.paused:
            return Step(Action.RESUME)
        if facts.deadline is not None and facts.now >= facts.deadline:
            return Step(Action.EMPTY)
        return Step(Action.WAIT, self._wait(facts), facts.events and not self.degraded)

    def _wait(self, facts: Facts) -> float:
        last = self.last_listing if self.last_listing is not None else facts.now
        wait = self.interval(facts) - (facts.now - last)
        for bound in (facts.next_due, facts.deadline):
            if bound is not None:
                wait = min(wait, bound - facts.now)
        return max(wait, MIN_WAIT_SECONDS)

    def listing_started(self, all_done: bool, markers_version: int) -> None:
        """Note that a listing begins; ``all_done``: every producer was known closed."""
        self.done_at_listing = markers_version if all_done else None
        self.must_list = False

    def proves_missed(self) -> bool:
        """Whether the next listing can show events to be missing: not the first, and
        events were on since the last one (so counting is worth a stat per new file)."""
        return self.last_listing is not None and not self.gap and not self.degraded

    def listing_finished(self, now: float, watching: bool, missed: int) -> bool:
        """Note a finished listing that found ``missed`` old files no event announced
        while ``watching``; True when that first shows events to be missing."""
        newly_degraded = False
        if watching and missed and self.proves_missed():
            newly_degraded = not self.degraded
            self.degraded = True
        self.gap = not watching
        self.last_listing = now
        return newly_degraded

    def list_soon(self) -> None:
        """Ask for a listing before the next claim (events resumed, claims restored)."""
        self.must_list = True

    def pause_for(self, backlog: int) -> bool:
        """Whether a reader with ``backlog`` candidates switches events off; if so, the
        next listing finds files no event announced, which proves nothing missed."""
        if backlog <= PAUSE_BACKLOG:
            return False
        self.gap = True
        return True


def count_missed(ages: Iterable[float]) -> int:
    """How many of the files a listing added (by age in seconds) an event should have
    announced already."""
    return sum(1 for age in ages if age > MISSED_GRACE_SECONDS)


class Deferrals:
    """Names that may not be claimed before a time (monotonic seconds)."""

    def __init__(self) -> None:
        self._due: dict[str, float] = {}

    def __contains__(self, name: object) -> bool:
        return name in self._due

    def __len__(self) -> int:
        return len(self._due)

    def defer(self, name: str, until: float) -> None:
        """Hold ``name`` back until ``until``."""
        self._due[name] = until

    def pop_due(self, now: float) -> list[str]:
        """Remove and return the names due at ``now``."""
        due = [name for name, when in self._due.items() if when <= now]
        for name in due:
            del self._due[name]
        return due

    def keep_only(self, names: set[str]) -> None:
        """Forget deferred names that are no longer in the folder."""
        for name in [n for n in self._due if n not in names]:
            del self._due[name]

    def next_due(self) -> float | None:
        """The earliest due time, or None."""
        return min(self._due.values(), default=None)


def retry_wait(
    attempt: int, retry_delay: float | None, cap: float | None = None, factor: float = 2.0
) -> float:
    """Seconds a message waits before ``attempt`` (2: the first retry): ``retry_delay``
    growing by ``factor`` per attempt, at most ``cap`` (None: no limit); 0 for a first
    attempt or without a delay."""
    if retry_delay is None or attempt <= 1:
        return 0.0
    wait = retry_delay * factor ** (attempt - 2)
    return wait if cap is None else min(cap, wait)


@attrs.define
class Stability:
    """With ``stable_after``: a file may be claimed once its shape (size, mtime) has not
    changed for that many seconds."""

    stable_after: float
    _seen: dict[str, tuple[tuple[int, int], float]] = attrs.field(factory=dict)

    def check(self, name: str, shape: tuple[int, int], now: float) -> float | None:
        """None if ``name`` of ``shape`` is stable at ``now``; else when to look again."""
        seen = self._seen.get(name)
        if seen is None or seen[0] != shape:
            seen = (shape, now)
            self._seen[name] = seen
        if now - seen[1] >= self.stable_after:
            del self._seen[name]
            return None
        return seen[1] + self.stable_after

    def forget(self, name: str) -> None:
        """Drop what is known of ``name`` (gone, or claimed)."""
        self._seen.pop(name, None)

    def keep_only(self, names: set[str]) -> None:
        """Forget files no longer in the folder."""
        for name in [n for n in self._seen if n not in names]:
            del self._seen[name]
