"""When a schedule is due: pure slot arithmetic over ``cronsim`` and ``zoneinfo``.

A *slot* is an instant (an aware ``datetime`` in the schedule's time zone) at which a
cron expression fires. Nothing here reads the clock or touches a file: callers pass
``now`` and the instant up to which slots were already handled.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Literal, TypeAlias, get_args

import attrs

if TYPE_CHECKING:
    from cronsim import CronSim

CatchUp: TypeAlias = Literal["all", "latest", "none"]
"""What to do with slots that passed while no scheduler ran: put ``all`` of them, only
the ``latest`` one, or ``none`` (only a slot that is on time is put)."""

CATCH_UPS: tuple[CatchUp, ...] = get_args(CatchUp)

ON_TIME = dt.timedelta(minutes=1)
"""With ``catch_up="none"``, a slot found due at most this long after its time is on
time and is put; an older one was missed and is skipped."""

FIELDS = "minute hour day-of-month month day-of-week"


def _cronsim(expr: str, start: dt.datetime) -> CronSim:
    # Imported here, so that persistq (and its CLI) works without the schedule extra.
    try:
        from cronsim import CronSim, CronSimError  # noqa: PLC0415
    except ImportError:
        raise ImportError(
            "schedules need cronsim: pip install 'persistq[schedule]'", name="cronsim"
        ) from None
    try:
        return CronSim(expr, start)
    except CronSimError as exc:
        raise ValueError(f"{expr!r}: {str(exc).lower()} field ({FIELDS})") from None


def check_cron(expr: str) -> str:
    """Return ``expr`` if it is a five-field cron expression cronsim accepts; else
    ValueError saying which field is bad."""
    if not isinstance(expr, str) or len(expr.split()) != 5:
        raise ValueError(f"{expr!r} is not five cron fields ({FIELDS})")
    _cronsim(expr, dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    return expr


def check_timezone(name: str) -> zoneinfo.ZoneInfo:
    """The zone named ``name`` (an IANA name such as ``Europe/Berlin``); ValueError if unknown."""
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(f"unknown time zone {name!r} (an IANA name, e.g. Europe/Berlin)") from None


def check_aware(now: dt.datetime, what: str = "now") -> dt.datetime:
    """``now`` if it is an aware datetime; ValueError otherwise."""
    if not isinstance(now, dt.datetime) or now.utcoffset() is None:
        raise ValueError(f"{what} must be an aware datetime (with a tzinfo); got {now!r}")
    return now


def utc(moment: dt.datetime) -> dt.datetime:
    """``moment`` in UTC. Compare and subtract slots only so: Python compares two
    datetimes of one zone by wall clock, which a repeated hour makes ambiguous."""
    return moment.astimezone(dt.UTC)


def slots_after(cron: str, zone: dt.tzinfo, after: dt.datetime) -> Iterator[dt.datetime]:
    """The slots of ``cron`` in ``zone`` strictly after instant ``after``, in order.

    As Debian cron: a fixed time that a spring-forward skips fires once right after the
    jump; one that a fall-back repeats fires once (at its first occurrence); wildcard
    minutes or hours fire at every real instant that matches. Day of month and day of
    week are ORed when both are restricted (neither starts with ``*``).
    """
    start = utc(after)
    try:
        for slot in _cronsim(cron, after.astimezone(zone)):
            if utc(slot) > start:  # across a fall-back cronsim may repeat an earlier instant
                yield slot
    except StopIteration:  # no match within 50 years (cronsim gives up)
        return


def next_slot(cron: str, zone: dt.tzinfo, after: dt.datetime) -> dt.datetime | None:
    """The first slot strictly after ``after``, or None if there is none."""
    return next(slots_after(cron, zone, after), None)


def slots_between(
    cron: str, zone: dt.tzinfo, after: dt.datetime, until: dt.datetime
) -> list[dt.datetime]:
    """The slots in ``(after, until]``, in order."""
    found = []
    end = utc(until)
    for slot in slots_after(cron, zone, after):
        if utc(slot) > end:
            break
        found.append(slot)
    return found


@attrs.frozen
class Decision:
    """Which due slots to put (in order) and which to skip (each logged)."""

    fire: tuple[dt.datetime, ...]
    skipped: tuple[dt.datetime, ...]


def decide(due: Sequence[dt.datetime], now: dt.datetime, catch_up: CatchUp) -> Decision:
    """Apply ``catch_up`` to the slots ``due`` at ``now`` (oldest first)."""
    if not due:
        return Decision((), ())
    if catch_up == "all":
        return Decision(tuple(due), ())
    *older, latest = due
    if catch_up == "latest" or utc(now) - utc(latest) <= ON_TIME:
        return Decision((latest,), tuple(older))
    return Decision((), tuple(due))
