"""The scheduler in one process, with a fake clock: what it puts, skips and recovers."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import pickle
import zoneinfo
from collections.abc import Callable
from pathlib import Path

import pytest

from persistq import ReadableFolderQueue
from persistq.folder.files import write_json
from persistq.schedule import Schedule, ScheduleError, Scheduler, StateError, read_trigger
from persistq.schedule.commit import fire
from persistq.schedule.state import ScheduleState, load_state, save_state, state_path
from persistq.schedule.trigger import trigger_record
from tests.schedule.helpers import minutes, triggers

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")


def every_minute(catch_up: str = "all", name: str = "tick") -> Schedule:
    return Schedule(name, "* * * * *", catch_up=catch_up, content={"table": "stats"})  # type: ignore[arg-type]


def test_a_fresh_scheduler_starts_from_now(tmp_path: Path) -> None:
    scheduler = Scheduler([every_minute()], tmp_path / "q")
    assert not (tmp_path / "q").exists()  # created by the first run, not before
    assert scheduler.run_pending(minutes(0)) == []  # a slot at exactly now is not due
    assert scheduler.run_pending(minutes(0.5)) == []
    put = scheduler.run_pending(minutes(2))
    assert (tmp_path / "q").is_dir()
    assert [os.path.basename(p) for p in put] == [
        "tick.20260101T000100Z.trigger",
        "tick.20260101T000200Z.trigger",
    ]


def test_the_trigger_says_schedule_slot_and_content_in_json(tmp_path: Path) -> None:
    schedule = Schedule("nightly", "30 2 * * *", timezone="Europe/Berlin", content="load stats")
    scheduler = Scheduler([schedule], tmp_path)
    scheduler.run_pending(dt.datetime(2026, 6, 1, 12, tzinfo=BERLIN))
    [path] = scheduler.run_pending(dt.datetime(2026, 6, 2, 2, 30, 1, tzinfo=BERLIN))
    assert os.path.basename(path) == "nightly.20260602T003000Z.trigger"
    with open(path, encoding="utf-8") as f:
        assert json.load(f) == {
            "schedule": "nightly",
            "slot": "2026-06-02T02:30:00+02:00",
            "content": "load stats",
        }
    assert read_trigger(path).slot == dt.datetime(2026, 6, 2, 2, 30, tzinfo=BERLIN)


def test_catch_up_all_puts_every_missed_slot(tmp_path: Path) -> None:
    Scheduler([every_minute("all")], tmp_path).run_pending(minutes(0))
    put = Scheduler([every_minute("all")], tmp_path).run_pending(minutes(5))  # a restart
    assert len(put) == 5


def test_catch_up_latest_puts_one_and_logs_each_skipped_slot(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    Scheduler([every_minute("latest")], tmp_path).run_pending(minutes(0))
    with caplog.at_level(logging.WARNING):
        put = Scheduler([every_minute("latest")], tmp_path).run_pending(minutes(5.5))
    assert [os.path.basename(p) for p in put] == ["tick.20260101T000500Z.trigger"]
    skipped = [r.getMessage() for r in caplog.records if "skipped slot" in r.getMessage()]
    assert len(skipped) == 4
    for n, message in enumerate(skipped, start=1):
        assert f"2026-01-01T00:0{n}:00+00:00" in message
    caplog.clear()
    Scheduler([every_minute("latest")], tmp_path).run_pending(minutes(5.5))
    assert not caplog.records  # skipped once, logged once


def test_catch_up_none_puts_only_a_slot_that_is_on_time(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    hourly = Schedule("hourly", "0 * * * *", catch_up="none")
    scheduler = Scheduler([hourly], tmp_path)
    scheduler.run_pending(minutes(0))
    with caplog.at_level(logging.WARNING):
        assert scheduler.run_pending(minutes(5 * 60 + 10)) == []  # 05:00 is 10 minutes late
    assert sum("skipped slot" in r.getMessage() for r in caplog.records) == 5
    assert len(scheduler.run_pending(minutes(6 * 60 + 0.5))) == 1  # 06:00, on time


def test_a_consumed_trigger_is_not_put_again_by_a_restarted_scheduler(tmp_path: Path) -> None:
    queue = tmp_path / "q"
    Scheduler([every_minute()], queue).run_pending(minutes(0))
    first = Scheduler([every_minute()], queue).run_pending(minutes(2))
    reader = ReadableFolderQueue(queue, ".trigger", task_done_directory=queue / "done")
    wip = reader.get(timeout=1000)
    assert isinstance(wip, str)
    reader.task_done(wip)  # the first is run and moved to done/
    os.unlink(first[1])  # consumed and deleted
    assert Scheduler([every_minute()], queue).run_pending(minutes(2)) == []
    assert len(Scheduler([every_minute()], queue).run_pending(minutes(3))) == 1
    assert triggers(queue, "done") == [
        "tick.20260101T000100Z.trigger",
        "tick.20260101T000300Z.trigger",
    ]


def test_a_repeated_wall_clock_hour_puts_nothing_twice(tmp_path: Path) -> None:
    nightly = Schedule("nightly", "30 2 * * *", timezone="Europe/Berlin")
    hourly = Schedule("hourly", "0 * * * *", timezone="Europe/Berlin", catch_up="all")
    scheduler = Scheduler([nightly, hourly], tmp_path)
    start = dt.datetime(2026, 10, 24, 23, 59, tzinfo=BERLIN).astimezone(dt.UTC)
    put = []
    for step in range(25 * 12 + 1):  # every 5 minutes of real time through the day
        now = (start + dt.timedelta(minutes=5 * step)).astimezone(BERLIN)  # 02:xx twice
        put += scheduler.run_pending(now)
    names = [os.path.basename(p) for p in put]
    assert len(names) == len(set(names))
    assert [n for n in names if n.startswith("nightly")] == ["nightly.20261025T003000Z.trigger"]
    assert len([n for n in names if n.startswith("hourly")]) == 25


def test_a_clock_that_goes_back_puts_nothing(tmp_path: Path) -> None:
    scheduler = Scheduler([every_minute()], tmp_path)
    scheduler.run_pending(minutes(0))
    assert len(scheduler.run_pending(minutes(3))) == 3
    assert scheduler.run_pending(minutes(1)) == []
    assert scheduler.run_pending(minutes(3)) == []


def test_the_scheduler_is_not_a_producer_of_the_queue(tmp_path: Path) -> None:
    # No helo marker: a reader (persistq watch) never sees DONE or FAILED because a
    # scheduler stopped or was restarted.
    scheduler = Scheduler([every_minute()], tmp_path)
    scheduler.run_pending(minutes(0))
    scheduler.run_pending(minutes(1))
    assert sorted(n for n in os.listdir(tmp_path) if not n.startswith(".")) == [
        "tick.20260101T000100Z.trigger"
    ]


def _state(tmp_path: Path, name: str = "tick") -> ScheduleState:
    state = load_state(state_path(str(tmp_path / ".persistq-schedule"), name))
    assert state is not None
    return state


def test_a_staged_pending_slot_is_published_on_restart(tmp_path: Path) -> None:
    scheduler = Scheduler([every_minute()], tmp_path)
    scheduler.run_pending(minutes(0))
    slot = minutes(1)
    staged, final = scheduler.folders.names("tick", slot)
    write_json(staged, trigger_record(every_minute(), slot), "fsync")
    save_state(scheduler.state_dir, _state(tmp_path).staged(slot))  # killed before publish
    assert scheduler.run_pending(minutes(1)) == [final]
    assert not os.listdir(scheduler.folders.staging)
    assert _state(tmp_path).last_slot == slot and _state(tmp_path).pending is None


def test_a_pending_slot_whose_trigger_was_consumed_is_not_put_again(tmp_path: Path) -> None:
    scheduler = Scheduler([every_minute()], tmp_path)
    scheduler.run_pending(minutes(0))
    before = _state(tmp_path)
    path, _ = fire(scheduler.folders, every_minute(), before, minutes(1))
    assert path is not None
    save_state(scheduler.state_dir, before.staged(minutes(1)))  # killed before "advance"
    os.unlink(path)  # and the trigger was run and deleted meanwhile
    assert scheduler.run_pending(minutes(1)) == []
    assert triggers(tmp_path) == []
    assert _state(tmp_path).last_slot == minutes(1)


def test_a_staged_trigger_with_no_pending_state_is_discarded_and_put_once(tmp_path: Path) -> None:
    scheduler = Scheduler([every_minute()], tmp_path)
    scheduler.run_pending(minutes(0))
    staged, _ = scheduler.folders.names("tick", minutes(1))
    Path(staged).write_text("{}")  # killed between stage and intend
    (Path(scheduler.folders.staging) / ".tick.x.trigger.abc.pqtmp").write_text("{")
    put = scheduler.run_pending(minutes(1))
    assert len(put) == 1 and read_trigger(put[0]).schedule == "tick"
    assert not os.listdir(scheduler.folders.staging)


def test_bad_schedules_name_the_schedule_and_the_field() -> None:
    cases: list[tuple[Callable[[], object], str]] = [
        (lambda: Schedule("a b", "* * * * *"), "'a b': field 'name'"),
        (lambda: Schedule("x", "* * * *"), "'x': field 'cron'"),
        (lambda: Schedule("x", "0 25 * * *"), "'x': field 'cron'.*bad hour"),
        (lambda: Schedule("x", "* * * * *", timezone="Nowhere/City"), "'x': field 'timezone'"),
        (lambda: Schedule("x", "* * * * *", catch_up="some"), "'x': field 'catch_up'"),  # type: ignore[arg-type]
        (lambda: Schedule("x", "* * * * *", content={"f": {1, 2}}), "'x': field 'content'"),
    ]
    for make, match in cases:
        with pytest.raises(ScheduleError, match=match) as info:
            make()
        again = pickle.loads(pickle.dumps(info.value))
        assert str(again) == str(info.value)
    with pytest.raises(ScheduleError, match="'tick': field 'name': used twice"):
        Scheduler([every_minute(), every_minute()], "/nonexistent-never-created")


def test_now_must_be_aware(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="aware"):
        Scheduler([every_minute()], tmp_path).run_pending(dt.datetime(2026, 1, 1))


def test_a_corrupt_state_file_is_named_and_nothing_is_put(tmp_path: Path) -> None:
    scheduler = Scheduler([every_minute()], tmp_path)
    scheduler.run_pending(minutes(0))
    path = state_path(scheduler.state_dir, "tick")
    Path(path).write_text("{not json")
    with pytest.raises(StateError, match=f"{path}: corrupt schedule state.*delete it") as info:
        scheduler.run_pending(minutes(5))
    assert str(pickle.loads(pickle.dumps(info.value))) == str(info.value)
    assert triggers(tmp_path) == []
