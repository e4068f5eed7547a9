"""Cron-style schedules whose every slot puts exactly one trigger file into a folder queue.

``persistq watch`` (or any reader of the folder) then runs each trigger: serialised,
crash-safe, with retries. See ``docs/schedules.md``.
"""

from persistq.errors import ScheduleError, StateError
from persistq.schedule.definition import Schedule
from persistq.schedule.observer import SlotObserver
from persistq.schedule.scheduler import Scheduler
from persistq.schedule.trigger import Trigger, read_trigger

__all__ = [
    "Schedule",
    "ScheduleError",
    "Scheduler",
    "SlotObserver",
    "StateError",
    "Trigger",
    "read_trigger",
]
