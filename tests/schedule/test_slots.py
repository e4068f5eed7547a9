"""Slot arithmetic with a fake clock: DST both ways, month ends, day-of-month OR day-of-week."""

from __future__ import annotations

import datetime as dt
import itertools
import zoneinfo

import pytest

from persistq.schedule.slots import (
    ON_TIME,
    check_cron,
    check_timezone,
    decide,
    next_slot,
    slots_between,
    utc,
)

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")
UTC = dt.UTC


def day(zone: dt.tzinfo, y: int, m: int, d: int) -> tuple[dt.datetime, dt.datetime]:
    """The instants before midnight and up to the next midnight (excluded) of a day."""
    tick = dt.timedelta(microseconds=1)
    start = dt.datetime(y, m, d, tzinfo=zone)
    return start - tick, dt.datetime(y, m, d + 1, tzinfo=zone) - tick


def test_a_fixed_time_in_a_repeated_hour_fires_once_at_its_first_occurrence() -> None:
    # 2026-10-25 Berlin: 03:00 CEST -> 02:00 CET, so 02:30 happens twice.
    slots = slots_between("30 2 * * *", BERLIN, *day(BERLIN, 2026, 10, 25))
    assert [s.isoformat() for s in slots] == ["2026-10-25T02:30:00+02:00"]


def test_a_fixed_time_skipped_by_spring_forward_fires_once_right_after_the_jump() -> None:
    # 2026-03-29 Berlin: 02:00 CET -> 03:00 CEST, so 02:30 does not exist.
    slots = slots_between("30 2 * * *", BERLIN, *day(BERLIN, 2026, 3, 29))
    assert [s.isoformat() for s in slots] == ["2026-03-29T03:00:00+02:00"]


def test_wildcard_minutes_fire_at_every_real_instant_through_both_transitions() -> None:
    fall = slots_between("*/15 * * * *", BERLIN, *day(BERLIN, 2026, 10, 25))
    spring = slots_between("*/15 * * * *", BERLIN, *day(BERLIN, 2026, 3, 29))
    assert len(fall) == 25 * 4 and len(spring) == 23 * 4
    for slots in (fall, spring):
        instants = [utc(s) for s in slots]
        assert instants == sorted(set(instants))  # distinct, in order
        assert {b - a for a, b in itertools.pairwise(instants)} == {dt.timedelta(minutes=15)}


def test_the_repeated_hour_is_never_fired_again_from_a_later_instant_in_it() -> None:
    # After 02:30 CEST was put, the clock reads 02:10 again (CET, fold=1): not due again.
    after = dt.datetime(2026, 10, 25, 2, 10, fold=1, tzinfo=BERLIN)
    assert next_slot("30 2 * * *", BERLIN, after) == dt.datetime(2026, 10, 26, 2, 30, tzinfo=BERLIN)
    first = dt.datetime(2026, 10, 25, 2, 30, tzinfo=BERLIN)
    assert slots_between("30 2 * * *", BERLIN, first, first + dt.timedelta(hours=2)) == []


def test_new_york_transitions_too() -> None:
    assert [
        s.isoformat() for s in slots_between("30 1 * * *", NEW_YORK, *day(NEW_YORK, 2026, 11, 1))
    ] == ["2026-11-01T01:30:00-04:00"]
    assert [
        s.isoformat() for s in slots_between("30 2 * * *", NEW_YORK, *day(NEW_YORK, 2026, 3, 8))
    ] == ["2026-03-08T03:00:00-04:00"]


def test_month_ends() -> None:
    year = (dt.datetime(2026, 1, 1, tzinfo=UTC), dt.datetime(2029, 1, 1, tzinfo=UTC))
    thirty_first = slots_between("0 0 31 * *", UTC, *year)
    assert {s.month for s in thirty_first} == {1, 3, 5, 7, 8, 10, 12}
    assert len(thirty_first) == 3 * 7
    leap = slots_between("0 12 29 2 *", UTC, *year)
    assert [s.date() for s in leap] == [dt.date(2028, 2, 29)]
    last_hour = slots_between("59 23 28-31 2 *", UTC, *year)
    assert [s.day for s in last_hour] == [28, 28, 28, 29]


def test_day_of_month_and_day_of_week_are_ored_when_both_are_restricted() -> None:
    month = (dt.datetime(2026, 2, 1, tzinfo=UTC), dt.datetime(2026, 3, 1, tzinfo=UTC))
    # February 2026: Fridays are 6, 13, 20, 27; the 13th is itself a Friday.
    either = slots_between("0 9 13 * FRI", UTC, *month)
    assert [s.day for s in either] == [6, 13, 20, 27]
    either = slots_between("0 9 1,15 * MON", UTC, *month)
    assert [s.day for s in either] == [1, 2, 9, 15, 16, 23]
    # A star in either field: the other alone decides (cron's AND with "every day").
    assert [s.day for s in slots_between("0 9 * * MON", UTC, *month)] == [2, 9, 16, 23]
    assert [s.day for s in slots_between("0 9 1,15 * *", UTC, *month)] == [1, 15]


def test_lists_ranges_steps_and_names() -> None:
    start = dt.datetime(2026, 1, 5, tzinfo=UTC)  # a Monday
    slots = slots_between("0,30 8-9 * JAN-FEB MON-FRI/2", UTC, start, start + dt.timedelta(days=7))
    assert {s.strftime("%a %H:%M") for s in slots} == {
        f"{d} {t}" for d in ("Mon", "Wed", "Fri") for t in ("08:00", "08:30", "09:00", "09:30")
    }
    assert len(slots) == 12


def test_bad_cron_expressions_say_which_field() -> None:
    for expr, field in [
        ("61 * * * *", "minute"),
        ("* 24 * * *", "hour"),
        ("* * 0 * *", "day-of-month"),
        ("* * * 13 *", "month"),
        ("* * * * 8", "day-of-week"),
        ("0 0 30 2 *", "day-of-month"),
    ]:
        with pytest.raises(ValueError, match=f"bad {field} field"):
            check_cron(expr)
    for expr in ("* * * *", "0 * * * * *", ""):
        with pytest.raises(ValueError, match="not five cron fields"):
            check_cron(expr)


def test_unknown_time_zones_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        check_timezone("Mars/Olympus")
    assert check_timezone("Europe/Berlin") == BERLIN


def test_catch_up_rules() -> None:
    t = dt.datetime(2026, 1, 1, tzinfo=UTC)
    due = [t + dt.timedelta(hours=h) for h in range(3)]
    late = due[-1] + dt.timedelta(hours=1)
    assert decide(due, late, "all").fire == tuple(due)
    assert decide(due, late, "latest").fire == (due[-1],)
    assert decide(due, late, "latest").skipped == tuple(due[:2])
    assert decide(due, late, "none").fire == ()
    assert decide(due, late, "none").skipped == tuple(due)
    on_time = due[-1] + ON_TIME
    assert decide(due, on_time, "none").fire == (due[-1],)
    assert decide([], late, "all").fire == ()


def test_the_on_time_grace_is_measured_in_real_time_across_a_fall_back() -> None:
    # 02:30 CEST, found due at 02:30 CET (an hour later, same wall clock): missed.
    slot = dt.datetime(2026, 10, 25, 2, 30, tzinfo=BERLIN)
    now = dt.datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=BERLIN)
    assert decide([slot], now, "none").fire == ()
