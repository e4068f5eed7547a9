"""A schedule's state: up to which instant its slots were handled, the last slot put,
and the slot whose trigger is being published (the commit record of the protocol).

One small JSON file per schedule, ``STATE_DIR/NAME.schedule.json``, replaced
atomically and fsynced. It also keeps the cron and time zone, so that ``persistq
status STATE_DIR`` can say when each schedule fires next.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from typing import Any

import attrs

from persistq.errors import StateError
from persistq.folder.files import write_json
from persistq.schedule.definition import Schedule
from persistq.schedule.slots import utc

STATE_SUFFIX = ".schedule.json"
VERSION = 1


@attrs.frozen
class ScheduleState:
    """Every slot up to ``through`` (UTC) was put or skipped; ``last_slot`` is the last
    one put; ``pending`` a slot whose trigger was staged and may not be published yet."""

    schedule: str
    cron: str
    timezone: str
    through: dt.datetime
    last_slot: dt.datetime | None = None
    pending: dt.datetime | None = None

    @classmethod
    def fresh(cls, schedule: Schedule, now: dt.datetime) -> ScheduleState:
        """The state of a schedule seen for the first time: it starts from ``now``."""
        return cls(schedule.name, schedule.cron, schedule.timezone, utc(now))

    def for_schedule(self, schedule: Schedule) -> ScheduleState:
        """This state, recording ``schedule``'s current cron and time zone."""
        return attrs.evolve(self, cron=schedule.cron, timezone=schedule.timezone)

    def staged(self, slot: dt.datetime) -> ScheduleState:
        """The state once ``slot``'s trigger is staged, complete, and not yet published."""
        return attrs.evolve(self, pending=utc(slot))

    def fired(self, slot: dt.datetime) -> ScheduleState:
        """The state once ``slot``'s trigger is in the queue."""
        at = utc(slot)
        return attrs.evolve(self, through=max(self.through, at), last_slot=at, pending=None)

    def skipped(self, slot: dt.datetime) -> ScheduleState:
        """The state once ``slot`` (and every slot before it) was skipped."""
        return attrs.evolve(self, through=max(self.through, utc(slot)))

    def to_json(self) -> dict[str, Any]:
        """The JSON form (times in UTC, ISO 8601)."""
        return {
            "version": VERSION,
            "schedule": self.schedule,
            "cron": self.cron,
            "timezone": self.timezone,
            "through": self.through.isoformat(),
            "last_slot": None if self.last_slot is None else self.last_slot.isoformat(),
            "pending": None if self.pending is None else self.pending.isoformat(),
        }

    @classmethod
    def from_json(cls, data: Any) -> ScheduleState:
        """Invert :meth:`to_json`; ValueError, KeyError or TypeError if ``data`` is not one."""
        if data.get("version") != VERSION:
            raise ValueError(f"unknown version {data.get('version')!r}")
        return cls(
            str(data["schedule"]),
            str(data["cron"]),
            str(data["timezone"]),
            _instant(data["through"]),
            None if data["last_slot"] is None else _instant(data["last_slot"]),
            None if data["pending"] is None else _instant(data["pending"]),
        )


def _instant(text: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(text)
    if moment.utcoffset() is None:
        raise ValueError(f"time {text!r} has no offset")
    return utc(moment)


def state_path(state_dir: str, schedule: str) -> str:
    """The state file of ``schedule`` in ``state_dir``."""
    return os.path.join(state_dir, schedule + STATE_SUFFIX)


def load_state(path: str) -> ScheduleState | None:
    """The state in file ``path``, or None if there is none; StateError if unreadable."""
    try:
        with open(path, encoding="utf-8") as f:
            return ScheduleState.from_json(json.load(f))
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise StateError(
            f"{path}: corrupt schedule state ({exc}); fix or delete it "
            "(deleted, the schedule starts again from now)"
        ) from None


def save_state(state_dir: str, state: ScheduleState) -> None:
    """Replace ``state``'s file atomically, on stable storage before returning."""
    write_json(state_path(state_dir, state.schedule), state.to_json(), "fsync")


def state_files(state_dir: str) -> list[str]:
    """The paths of the schedule state files in ``state_dir``, by name."""
    return [
        os.path.join(state_dir, name)
        for name in sorted(os.listdir(state_dir))
        if name.endswith(STATE_SUFFIX) and not name.startswith(".")
    ]
