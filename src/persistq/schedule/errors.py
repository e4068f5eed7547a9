"""The errors of schedules: each names the file, schedule or field at fault."""

from __future__ import annotations

from persistq.errors import PersistqError


class ScheduleError(PersistqError, ValueError):
    """A schedule, or a schedule file, is invalid (bad cron field, unknown time zone,
    duplicate name, ...): the message names the schedule and the field."""


class StateError(PersistqError):
    """A scheduler's state file cannot be read: the message names the file and says
    what to do."""
