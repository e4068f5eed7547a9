"""When ``persistq watch`` may try a failed trigger again: the backoff schedule and the
triggers parked until then (pure: the clock is passed in).

A failed trigger goes back to the queue at once, with its attempt count; when the
watcher claims it again before its retry is due, the claim is parked here. Parking
holds no thread and no job slot, so a healthy trigger never waits behind a failing
one's backoff.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import attrs


def backoff_delay(failed_attempt: int, base: float, cap: float) -> float:
    """Seconds to wait after attempt ``failed_attempt`` (1-based) failed: ``base``
    doubled for each earlier failure, at most ``cap``."""
    return float(min(cap, base * 2 ** (failed_attempt - 1)))


@attrs.define
class RetryWait:
    """The triggers whose next attempt is not due yet, and the claims parked for them."""

    clock: Callable[[], float] = time.monotonic
    due: dict[str, float] = attrs.field(factory=dict)
    """Trigger name -> when its next attempt may start."""
    parked: dict[str, float] = attrs.field(factory=dict)
    """Claimed wip path -> when it may run."""

    def defer(self, name: str, delay: float) -> None:
        """The next attempt of trigger ``name`` may start ``delay`` seconds from now."""
        self.due[name] = self.clock() + delay

    def park(self, wip: str, name: str) -> bool:
        """Keep claim ``wip`` of trigger ``name`` until its retry is due (True), or say
        it may run now (False)."""
        when = self.due.pop(name, None)
        if when is None or when <= self.clock():
            return False
        self.parked[wip] = when
        return True

    def pop_due(self) -> str | None:
        """A parked claim whose time has come (the earliest), removed; None if none."""
        if not self.parked:
            return None
        wip = min(self.parked, key=self.parked.__getitem__)
        if self.parked[wip] > self.clock():
            return None
        del self.parked[wip]
        return wip

    def seconds_to_next(self) -> float | None:
        """Seconds until the earliest parked claim is due (0 if it is); None if none."""
        if not self.parked:
            return None
        return max(0.0, min(self.parked.values()) - self.clock())

    def take_all(self) -> list[str]:
        """Every parked claim, removed (to give them back when the watcher stops)."""
        wips, self.parked = list(self.parked), {}
        return wips
