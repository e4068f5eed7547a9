"""The scheduler reports every slot put or skipped, and each schedule's last and next
slot, to its observer (the metrics' source), with a fake clock."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

from persistq.schedule import Schedule, Scheduler
from persistq.schedule.state import load_state, save_state, state_path
from tests.schedule.helpers import minutes


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, ...]] = []

    def checked(
        self,
        queue: str,
        schedule: str,
        last_slot: dt.datetime | None,
        next_slot: dt.datetime | None,
    ) -> None:
        last = "-" if last_slot is None else f"{last_slot:%H:%M}"
        after = "-" if next_slot is None else f"{next_slot:%H:%M}"
        self.events.append(("checked", queue, schedule, last, after))

    def put(self, queue: str, schedule: str, slot: dt.datetime) -> None:
        self.events.append(("put", queue, schedule, f"{slot:%H:%M}"))

    def skipped(self, queue: str, schedule: str, slots: Sequence[dt.datetime]) -> None:
        self.events.append(("skipped", queue, schedule, *(f"{s:%H:%M}" for s in slots)))


def test_puts_skips_and_the_last_and_next_slot_are_reported(tmp_path: Path) -> None:
    seen = Recorder()
    scheduler = Scheduler([Schedule("tick", "* * * * *")], tmp_path, observer=seen)
    q = str(tmp_path)
    scheduler.run_pending(minutes(0))
    assert seen.events == [("checked", q, "tick", "-", "00:01")]
    seen.events.clear()
    scheduler.run_pending(minutes(3.5))  # catch_up latest: 1 and 2 missed, 3 put
    assert seen.events == [
        ("skipped", q, "tick", "00:01", "00:02"),
        ("put", q, "tick", "00:03"),
        ("checked", q, "tick", "00:03", "00:04"),
    ]


def test_a_slot_a_killed_scheduler_was_putting_is_reported_once_finished(
    tmp_path: Path,
) -> None:
    Scheduler([Schedule("tick", "* * * * *")], tmp_path).run_pending(minutes(0))
    state_dir = str(tmp_path / ".persistq-schedule")
    state = load_state(state_path(state_dir, "tick"))
    assert state is not None
    save_state(state_dir, state.staged(minutes(1)))  # killed after intend, nothing staged
    seen = Recorder()
    Scheduler([Schedule("tick", "* * * * *")], tmp_path, observer=seen).run_pending(minutes(1.5))
    # Published before the kill (no staged file): not put again, so not counted again.
    assert seen.events == [("checked", str(tmp_path), "tick", "00:01", "00:02")]
