"""What a scheduler tells whoever watches it (metrics, for one): each slot put, each
slot skipped, and each schedule's last and next slot after every run. The scheduler
knows only this protocol; ``persistq.service.metrics.ScheduleMetrics`` implements it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Protocol


class SlotObserver(Protocol):
    """Told by :class:`~persistq.schedule.Scheduler` what it did; called under the state
    directory's lock after each step is committed, so it should return quickly."""

    def checked(
        self,
        queue: str,
        schedule: str,
        last_slot: dt.datetime | None,
        next_slot: dt.datetime | None,
    ) -> None:
        """``schedule`` of queue folder ``queue`` is up to date: its last slot put (None
        before the first) and its next slot (None if there is none)."""
        return None  # the default: nothing to do

    def put(self, queue: str, schedule: str, slot: dt.datetime) -> None:
        """A trigger file for ``slot`` was put into ``queue``."""
        return None  # the default: nothing to do

    def skipped(self, queue: str, schedule: str, slots: Sequence[dt.datetime]) -> None:
        """``slots`` were missed (no scheduler ran) and skipped, as catch_up says."""
        return None  # the default: nothing to do


class NoObserver(SlotObserver):
    """A :class:`SlotObserver` that ignores everything (the default): the protocol's
    methods do nothing."""
