"""What a schedule is: a name, a cron expression in a time zone, a catch-up rule and
the content its triggers carry."""

from __future__ import annotations

import datetime as dt
import json
import re
import zoneinfo
from typing import Any

import attrs

from persistq.errors import ScheduleError
from persistq.schedule.slots import CATCH_UPS, CatchUp, check_cron, check_timezone, next_slot

_NAME = re.compile(r"[A-Za-z0-9_-]{1,100}")

Content = str | dict[str, Any]
"""A trigger's content: text, or a table of parameters (anything JSON can carry)."""


@attrs.frozen(hash=False)
class Schedule:
    """A cron schedule whose every slot becomes one trigger file.

    ``name``: letters, digits, ``_`` and ``-`` (it names trigger and state files).
    ``cron``: five fields (lists, ranges, steps, names) read by cronsim, in
    ``timezone`` (an IANA zone). ``catch_up``: ``"all"``, ``"latest"`` or ``"none"``.
    ``content``: text or a dict of parameters, copied into each trigger. Raises
    ScheduleError naming the schedule and the field at fault.
    """

    name: str
    cron: str
    timezone: str = attrs.field(default="UTC", kw_only=True)
    catch_up: CatchUp = attrs.field(default="latest", kw_only=True)
    content: Content = attrs.field(default="", kw_only=True)

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name):
            raise ScheduleError(
                f"schedule {self.name!r}: field 'name': use 1-100 letters, digits, '_' or '-'"
            )
        self._check("cron", check_cron, self.cron)
        self._check("timezone", check_timezone, self.timezone)
        if self.catch_up not in CATCH_UPS:
            raise ScheduleError(
                f"schedule {self.name!r}: field 'catch_up': {self.catch_up!r} is not one of "
                + ", ".join(CATCH_UPS)
            )
        if not isinstance(self.content, str | dict):
            raise ScheduleError(
                f"schedule {self.name!r}: field 'content': text or a table of parameters, "
                f"not {type(self.content).__name__}"
            )
        try:
            json.dumps(self.content)
        except (TypeError, ValueError) as exc:
            raise ScheduleError(
                f"schedule {self.name!r}: field 'content': not JSON data ({exc})"
            ) from None

    def _check(self, field: str, check: Any, value: object) -> None:
        try:
            check(value)
        except ValueError as exc:
            raise ScheduleError(f"schedule {self.name!r}: field {field!r}: {exc}") from None

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        """The schedule's time zone."""
        return zoneinfo.ZoneInfo(self.timezone)

    def next_slot(self, after: dt.datetime) -> dt.datetime | None:
        """The first slot strictly after ``after`` (in the schedule's zone), or None."""
        return next_slot(self.cron, self.zone, after)
