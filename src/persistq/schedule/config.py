"""Schedule files (TOML): read and check every schedule before anything runs.

::

    queue = "triggers"              # default queue folder (relative to this file)
    # state_dir = "state"           # default: QUEUE/.persistq-schedule
    # extension = ".trigger"

    [[schedule]]
    name = "nightly-stats"
    cron = "30 2 * * *"
    timezone = "Europe/Berlin"      # default UTC
    catch_up = "latest"             # all, latest (default) or none
    params = { table = "stats" }    # or: content = "text"
    # queue = "other-folder"        # this schedule's own queue folder
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from typing import Any

from persistq.errors import ScheduleError
from persistq.schedule.definition import Schedule
from persistq.schedule.observer import SlotObserver
from persistq.schedule.scheduler import Scheduler

_TOP = frozenset({"queue", "state_dir", "extension", "schedule"})
_FIELDS = frozenset({"name", "cron", "timezone", "catch_up", "content", "params", "queue"})


def load_schedulers(
    path: str | os.PathLike[str], *, observer: SlotObserver | None = None
) -> list[Scheduler]:
    """One Scheduler per queue folder named in the schedule file at ``path``, each
    reporting to ``observer``.

    ScheduleError naming the file, the schedule and the field for any mistake (bad
    cron field, unknown time zone, duplicate name, unknown field, ...); nothing is
    created before the whole file is checked.
    """
    file = os.fspath(path)
    try:
        with open(file, "rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise ScheduleError(f"{file}: not valid TOML: {exc}") from None
    grouped = read_schedules(file, data)
    top = data.get("state_dir")
    extension = data.get("extension", ".trigger")
    state_dir = None if top is None else _path(file, top, "field 'state_dir'")
    try:
        return [
            Scheduler(
                schedules,
                queue,
                state_dir=state_dir,
                message_extension=extension,
                observer=observer,
            )
            for queue, schedules in grouped.items()
        ]
    except ValueError as exc:
        raise ScheduleError(f"{file}: field 'extension': {exc}") from None


def read_schedules(file: str, data: Mapping[str, Any]) -> dict[str, list[Schedule]]:
    """The schedules of parsed file ``data``, grouped by queue folder; checks only."""
    for key in data:
        if key not in _TOP:
            raise ScheduleError(f"{file}: unknown field {key!r} (known: {', '.join(sorted(_TOP))})")
    entries = data.get("schedule")
    if not isinstance(entries, list) or not entries:
        raise ScheduleError(f"{file}: no [[schedule]] tables")
    default_queue = data.get("queue")
    grouped: dict[str, list[Schedule]] = {}
    names: set[str] = set()
    for number, entry in enumerate(entries, start=1):
        schedule, queue = _schedule(file, number, entry, default_queue)
        if schedule.name in names:
            raise ScheduleError(f"{file}: schedule {schedule.name!r}: field 'name': used twice")
        names.add(schedule.name)
        grouped.setdefault(queue, []).append(schedule)
    return grouped


def _schedule(file: str, number: int, entry: Any, default_queue: Any) -> tuple[Schedule, str]:
    if not isinstance(entry, dict):
        raise ScheduleError(f"{file}: [[schedule]] number {number} is not a table")
    label = repr(entry["name"]) if isinstance(entry.get("name"), str) else f"number {number}"
    where = f"{file}: schedule {label}"
    for key in entry:
        if key not in _FIELDS:
            raise ScheduleError(
                f"{where}: unknown field {key!r} (known: {', '.join(sorted(_FIELDS))})"
            )
    for key in ("name", "cron"):
        if not isinstance(entry.get(key), str):
            raise ScheduleError(f"{where}: field {key!r}: missing, or not a string")
    if "content" in entry and "params" in entry:
        raise ScheduleError(f"{where}: field 'params': give content or params, not both")
    if "params" in entry and not isinstance(entry["params"], dict):
        raise ScheduleError(f"{where}: field 'params': not a table")
    queue = entry.get("queue", default_queue)
    if queue is None:
        raise ScheduleError(f"{where}: field 'queue': missing (here or at the top of the file)")
    content: Any = entry["params"] if "params" in entry else entry.get("content", "")
    try:
        schedule = Schedule(
            entry["name"],
            entry["cron"],
            timezone=entry.get("timezone", "UTC"),
            catch_up=entry.get("catch_up", "latest"),
            content=content,
        )
    except ScheduleError as exc:
        raise ScheduleError(f"{file}: {exc}") from None
    return schedule, _path(file, queue, f"schedule {label}: field 'queue'")


def _path(file: str, value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise ScheduleError(f"{file}: {what}: not a folder name")
    return os.path.join(os.path.dirname(os.path.abspath(file)), os.path.expanduser(value))
