"""Schedule files and ``persistq schedule`` / ``persistq status``: every mistake named
with file, schedule and field before anything runs; listing; one run; the status."""

from __future__ import annotations

import datetime as dt
import json
import pickle
from pathlib import Path

import pytest

from persistq.schedule import Schedule, ScheduleError, Scheduler, read_trigger
from persistq.schedule.config import load_schedulers
from persistq.schedule.state import load_state, save_state, state_path
from tests.cli.helpers import persistq

GOOD = """
queue = "triggers"

[[schedule]]
name = "nightly-stats"
cron = "30 2 * * *"
timezone = "Europe/Berlin"
params = { table = "stats", days = 1 }

[[schedule]]
name = "tick"
cron = "*/10 * * * *"
catch_up = "all"
content = "ping"
queue = "other"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "schedules.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_file_gives_one_scheduler_per_queue_folder(tmp_path: Path) -> None:
    schedulers = load_schedulers(write(tmp_path, GOOD))
    assert [s.queue_path for s in schedulers] == [
        str(tmp_path / "triggers"),
        str(tmp_path / "other"),
    ]
    nightly = schedulers[0].schedules[0]
    assert nightly.content == {"table": "stats", "days": 1}
    assert nightly.catch_up == "latest" and nightly.timezone == "Europe/Berlin"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("30 2 * * *", "30 2 * * * *"), "schedule 'nightly-stats': field 'cron'"),
        (("*/10 * * * *", "*/10 * 32 * *"), "schedule 'tick': field 'cron'.*day-of-month"),
        (("Europe/Berlin", "Europe/Atlantis"), "schedule 'nightly-stats': field 'timezone'"),
        (('name = "tick"', 'name = "nightly-stats"'), "'nightly-stats': field 'name': used twice"),
        (('catch_up = "all"', 'catch_up = "every"'), "schedule 'tick': field 'catch_up'"),
        (('content = "ping"', "crontent = 1"), "schedule 'tick': unknown field 'crontent'"),
        (('content = "ping"', "params = 3"), "schedule 'tick': field 'params': not a table"),
        (('content = "ping"', "content = 1\nparams = {}"), "field 'params': give content or"),
        (('queue = "triggers"', 'queues = "x"'), "unknown field 'queues'"),
        (('queue = "triggers"', ""), "schedule 'nightly-stats': field 'queue': missing"),
        (('cron = "30 2 * * *"', ""), "schedule 'nightly-stats': field 'cron': missing"),
        (("[[schedule]]", "[[schedul]]"), "unknown field 'schedul'"),
        (("queue =", "queue"), "not valid TOML"),
    ],
)
def test_mistakes_name_file_schedule_and_field_and_nothing_is_created(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    old, new = change
    path = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(ScheduleError, match=message) as info:
        load_schedulers(path)
    assert str(info.value).startswith(f"{path}: ")
    assert str(pickle.loads(pickle.dumps(info.value))) == str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["schedules.toml"]
    done = persistq("schedule", str(path), "--list")
    assert done.returncode == 2 and str(path) in done.stderr


def test_list_prints_the_next_slots_with_their_offsets(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    done = persistq("schedule", str(path), "--list", "--count", "2", "--now", "2026-10-25T00:05Z")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["SCHEDULE", "NEXT", "SLOT", "QUEUE"]
    assert lines[1].split()[:2] == ["nightly-stats", "2026-10-25T02:30:00+02:00"]
    assert lines[2].split()[:2] == ["nightly-stats", "2026-10-26T02:30:00+01:00"]
    assert lines[3].split()[:2] == ["tick", "2026-10-25T00:10:00+00:00"]
    assert not (tmp_path / "triggers").exists()  # listing creates nothing


def test_once_puts_what_is_due_and_status_shows_last_and_next_slot(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    assert persistq("schedule", str(path), "--once", "--now", "2026-06-01T00:00Z").stdout == ""
    done = persistq("schedule", str(path), "--once", "--now", "2026-06-01T00:25Z")
    assert done.returncode == 0, done.stderr
    put = done.stdout.split()
    assert [Path(p).name for p in put] == [
        "tick.20260601T001000Z.trigger",
        "tick.20260601T002000Z.trigger",
    ]
    assert read_trigger(put[0]).content == "ping"
    state_dir = tmp_path / "other" / ".persistq-schedule"
    status = persistq("status", "--json", str(state_dir))
    report = json.loads(status.stdout)
    [tick] = report["schedules"]
    assert tick["last_slot"] == "2026-06-01T00:20:00+00:00"
    assert tick["next_slot"] == "2026-06-01T00:30:00+00:00"
    assert tick["overdue"] and not report["healthy"] and status.returncode == 1  # no scheduler
    text = persistq("status", str(state_dir)).stdout
    assert "tick" in text and "2026-06-01T00:20:00+00:00" in text and "overdue" in text


def test_status_names_a_corrupt_state_file(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    (state_dir / "x.schedule.json").write_text("{")
    done = persistq("status", str(state_dir))
    assert done.returncode == 1
    assert "x.schedule.json: corrupt schedule state" in done.stdout


def test_now_without_once_or_list_is_a_usage_error(tmp_path: Path) -> None:
    done = persistq("schedule", str(write(tmp_path, GOOD)), "--now", "2026-06-01T00:00Z")
    assert done.returncode == 2 and "--now needs --list or --once" in done.stderr
    done = persistq("schedule", str(write(tmp_path, GOOD)), "--once", "--now", "2026-06-01")
    assert done.returncode == 2 and "offset" in done.stderr


def test_status_shows_a_slot_a_killed_scheduler_was_putting(tmp_path: Path) -> None:
    scheduler = Scheduler([Schedule("tick", "* * * * *")], tmp_path / "q")
    now = dt.datetime.now(dt.UTC)
    scheduler.run_pending(now)
    state = load_state(state_path(scheduler.state_dir, "tick"))
    assert state is not None
    save_state(scheduler.state_dir, state.staged(now))
    done = persistq("status", scheduler.state_dir)
    assert done.returncode == 0, done.stdout
    assert f"tick: slot {now.isoformat()} is being put" in done.stdout  # finished next run
    assert "healthy" in done.stdout
