"""Trigger files: the name and the JSON record of one slot of one schedule.

The name is a pure function of schedule and slot (its UTC time), so every scheduler
process computes the same name for the same slot and a repeated wall-clock hour gives
distinct names: ``nightly.20261025T003000Z.trigger``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from typing import Any

import attrs

from persistq.errors import ScheduleError
from persistq.schedule.definition import Content, Schedule
from persistq.schedule.slots import utc

_STAMP = "%Y%m%dT%H%M%SZ"


def trigger_name(schedule: str, slot: dt.datetime, extension: str) -> str:
    """The file name of the trigger of ``slot`` of schedule ``schedule``."""
    return f"{schedule}.{utc(slot).strftime(_STAMP)}{extension}"


def trigger_prefix(schedule: str) -> str:
    """What every trigger name of ``schedule`` starts with (names have no dots)."""
    return schedule + "."


def trigger_record(schedule: Schedule, slot: dt.datetime) -> dict[str, Any]:
    """The JSON record a trigger carries: schedule, slot (ISO 8601 with its offset, in
    the schedule's zone) and the schedule's content."""
    return {
        "schedule": schedule.name,
        "slot": slot.astimezone(schedule.zone).isoformat(),
        "content": schedule.content,
    }


@attrs.frozen(hash=False)
class Trigger:
    """A trigger as read back: which schedule, which slot, and its content."""

    schedule: str
    slot: dt.datetime
    content: Content


def read_trigger(path: str | os.PathLike[str]) -> Trigger:
    """Read the trigger file at ``path`` (JSON only); ScheduleError naming the file if it
    is not one."""
    name = os.fspath(path)
    try:
        with open(name, encoding="utf-8") as f:
            data = json.load(f)
        slot = dt.datetime.fromisoformat(data["slot"])
        trigger = Trigger(str(data["schedule"]), slot, data["content"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ScheduleError(f"{name}: not a persistq trigger file ({exc})") from None
    if slot.utcoffset() is None:
        raise ScheduleError(f"{name}: not a persistq trigger file (slot has no offset)")
    return trigger
