"""What a state directory says about its schedules: the read model of ``persistq status``."""

from __future__ import annotations

import datetime as dt
import os
import zoneinfo

import attrs

from persistq.errors import StateError
from persistq.schedule.scheduler import MAX_SLEEP
from persistq.schedule.slots import ON_TIME, next_slot, utc
from persistq.schedule.state import ScheduleState, load_state, state_files

OVERDUE = dt.timedelta(seconds=MAX_SLEEP) + ON_TIME
"""A slot not put this long after its time means that no scheduler is running."""


@attrs.frozen
class ScheduleStatus:
    """One schedule's last slot put, the next slot to put (in its own zone), the slot
    being put when a scheduler was killed (finished by the next run), and whether the
    next slot is overdue (no scheduler seems to run)."""

    schedule: str
    cron: str
    timezone: str
    last_slot: dt.datetime | None
    next_slot: dt.datetime | None
    pending: dt.datetime | None
    overdue: bool


def is_state_dir(path: str) -> bool:
    """Whether folder ``path`` holds schedule state files."""
    return os.path.isdir(path) and bool(state_files(path))


def statuses(state_dir: str, now: dt.datetime) -> tuple[list[ScheduleStatus], list[str]]:
    """The status of each schedule in ``state_dir`` at ``now``, and the problems found
    (unreadable state files, overdue slots)."""
    found: list[ScheduleStatus] = []
    problems: list[str] = []
    for path in state_files(state_dir):
        try:
            state = load_state(path)
        except StateError as exc:
            problems.append(str(exc))
            continue
        if state is not None:
            status = _status(state, now)
            found.append(status)
            if status.overdue and status.next_slot is not None:
                problems.append(
                    f"schedule {status.schedule}: slot {status.next_slot.isoformat()} is "
                    f"overdue; is a scheduler running on {state_dir}?"
                )
    return found, problems


def _status(state: ScheduleState, now: dt.datetime) -> ScheduleStatus:
    zone = zoneinfo.ZoneInfo(state.timezone)
    upcoming = next_slot(state.cron, zone, state.through)
    local = None if state.last_slot is None else state.last_slot.astimezone(zone)
    pending = None if state.pending is None else state.pending.astimezone(zone)
    overdue = upcoming is not None and utc(now) - utc(upcoming) > OVERDUE
    return ScheduleStatus(
        state.schedule, state.cron, state.timezone, local, upcoming, pending, overdue
    )
