"""SIGKILL ``run_pending`` at every call of each syscall of the commit protocol; after
each kill a consumer takes whatever was published (leaves it, moves it to done/, or
deletes it), a restarted scheduler runs, and every slot was put exactly once."""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections import Counter
from pathlib import Path

from persistq.folder.files import write_json
from persistq.folder.owner import current_owner
from persistq.folder.tempnames import temp_name
from persistq.schedule import Schedule, Scheduler
from persistq.schedule.state import load_state, save_state, state_path
from persistq.schedule.trigger import trigger_record
from tests.crashpoints import CrashPoint, crash_points, python_argv, require_strace
from tests.schedule.helpers import minutes, triggers

SCHEDULE = Schedule("tick", "* * * * *", catch_up="all", content={"n": 1})
EXPECTED = ["tick.20260101T000100Z.trigger", "tick.20260101T000200Z.trigger"]
RUN = """
import datetime as dt, sys
from persistq.schedule import Schedule, Scheduler
if sys.argv[2] == "no-renameat2":  # a file system without RENAME_NOREPLACE
    import persistq.folder.files
    persistq.folder.files._rename_noreplace = lambda src, dst: False
schedule = Schedule("tick", "* * * * *", catch_up="all", content={"n": 1})
Scheduler([schedule], sys.argv[1]).run_pending(dt.datetime(2026, 1, 1, 0, 2, tzinfo=dt.UTC))
"""
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}


def consume(queue: Path, mode: int) -> list[str]:
    """What a reader did after the kill: nothing, done/, or deleted; the names deleted."""
    done = queue / "done"
    done.mkdir(exist_ok=True)
    deleted = []
    for name in triggers(queue):
        with open(queue / name, encoding="utf-8") as f:
            assert json.load(f)["schedule"] == "tick"  # never half a trigger
        if mode == 1:
            os.rename(queue / name, done / name)
        elif mode == 2:
            os.unlink(queue / name)
            deleted.append(name)
    return deleted


def check_exactly_once(queue: Path, point: CrashPoint, mode: int) -> None:
    deleted = consume(queue, mode)
    Scheduler([SCHEDULE], queue).run_pending(minutes(2))  # the restart
    seen = Counter(triggers(queue, "done") + deleted)
    assert sorted(seen) == EXPECTED and set(seen.values()) == {1}, (point, seen)
    state_dir = queue / ".persistq-schedule"
    state = load_state(state_path(str(state_dir), "tick"))
    assert state is not None and state.pending is None and state.last_slot == minutes(2), point
    assert os.listdir(state_dir / "staged") == [], point
    assert sorted(os.listdir(state_dir)) == ["scheduler.lock", "staged", "tick.schedule.json"]
    assert Scheduler([SCHEDULE], queue).run_pending(minutes(2)) == []


def run_campaign(
    tmp_path: Path, syscalls: tuple[str, ...], *, start: str, renameat2: bool = True
) -> Counter[str]:
    """Kill the run at each point, from state ``start``: ``fresh`` (slots due), ``pending``
    (an earlier run was killed after staging slot 1 and recording it) or ``staged``
    (killed after staging slot 1, before recording it, and inside a write)."""
    require_strace()
    queue = tmp_path / "q"

    def prepare() -> None:
        shutil.rmtree(queue, ignore_errors=True)
        scheduler = Scheduler([SCHEDULE], queue)
        scheduler.run_pending(minutes(0))
        if start == "fresh":
            return
        staged, _ = scheduler.folders.names("tick", minutes(1))
        write_json(staged, trigger_record(SCHEDULE, minutes(1)), "fsync")
        state = load_state(state_path(scheduler.state_dir, "tick"))
        assert state is not None
        if start == "pending":
            save_state(scheduler.state_dir, state.staged(minutes(1)))
        else:
            left = temp_name("tick.schedule.json", current_owner(), "0a1b")
            Path(scheduler.state_dir, left).write_text("{")

    points: Counter[str] = Counter()
    argv = [*python_argv(RUN), str(queue), "renameat2" if renameat2 else "no-renameat2"]
    for index, point in enumerate(crash_points(argv, syscalls, prepare=prepare, env=ENV)):
        check_exactly_once(queue, point, index % 3)
        points[point.syscall] += 1
    return points


def test_a_kill_at_any_point_of_run_pending_puts_each_slot_once(tmp_path: Path) -> None:
    points = run_campaign(
        tmp_path, ("renameat2", "rename", "fsync", "write", "unlink"), start="fresh"
    )
    print("crash points:", dict(points))
    # Two slots: each stages (rename), records pending (rename), publishes (renameat2)
    # and advances (rename), with an fsync of each file and folder on the way.
    assert points["renameat2"] == 2 and points["rename"] == 6 and points["fsync"] >= 12


def test_a_kill_while_finishing_a_pending_slot_puts_each_slot_once(tmp_path: Path) -> None:
    points = run_campaign(tmp_path, ("renameat2", "rename", "fsync"), start="pending")
    print("crash points:", dict(points))
    assert points["renameat2"] == 2 and points["rename"] == 4


def test_without_renameat2_the_rename_is_still_the_commit_record(tmp_path: Path) -> None:
    points = run_campaign(tmp_path, ("rename", "link", "unlink"), start="pending", renameat2=False)
    print("crash points:", dict(points))
    assert points["rename"] == 6 and points["link"] == 0  # publish is a rename: 2 more


def test_a_kill_while_removing_what_a_killed_run_left_puts_each_slot_once(tmp_path: Path) -> None:
    points = run_campaign(tmp_path, ("unlink", "renameat2"), start="staged")
    print("crash points:", dict(points))
    assert points["unlink"] == 2 and points["renameat2"] == 2
