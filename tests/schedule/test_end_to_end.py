"""End to end: ``persistq schedule --once`` driven through fake minutes (a new process
each time, as after restarts) puts triggers that a running ``persistq watch`` runs
through a command: each slot runs once, and only once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import zoneinfo
from pathlib import Path

from tests.cli.helpers import PERSISTQ, persistq
from tests.schedule.helpers import minutes

RECORD = """
import json, sys
with open(sys.argv[2], encoding="utf-8") as f:
    trigger = json.load(f)
with open(sys.argv[1], "a", encoding="utf-8") as log:
    log.write(f"{trigger['schedule']} {trigger['slot']} {trigger['content']['table']}\\n")
"""
SCHEDULES = """
queue = "triggers"

[[schedule]]
name = "load"
cron = "* * * * *"
catch_up = "all"
params = { table = "stats" }

[[schedule]]
name = "rollup"
cron = "*/4 * * * *"
timezone = "Europe/Berlin"
params = { table = "rollup" }
"""
FAKE_MINUTES = 8
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")


def test_schedule_then_watch_runs_each_slot_once(tmp_path: Path) -> None:
    (tmp_path / "schedules.toml").write_text(SCHEDULES, encoding="utf-8")
    (tmp_path / "record.py").write_text(RECORD, encoding="utf-8")
    log = tmp_path / "ran.log"
    triggers = tmp_path / "triggers"
    triggers.mkdir()
    watch = subprocess.Popen(
        [
            PERSISTQ,
            "watch",
            str(triggers),
            "--pattern",
            "*.trigger",
            "--",
            sys.executable,
            str(tmp_path / "record.py"),
            str(log),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for k in range(FAKE_MINUTES + 1):
            for _ in range(2):  # run twice per minute: the second puts nothing
                now = minutes(k).isoformat()
                done = persistq(
                    "schedule", str(tmp_path / "schedules.toml"), "--once", "--now", now
                )
                assert done.returncode == 0, done.stderr
        expected = [f"load {minutes(k).isoformat()} stats" for k in range(1, FAKE_MINUTES + 1)]
        expected += [
            f"rollup {minutes(k).astimezone(BERLIN).isoformat()} rollup"
            for k in range(4, FAKE_MINUTES + 1, 4)
        ]
        deadline = time.monotonic() + 30
        while len(_lines(log)) < len(expected):
            assert time.monotonic() < deadline, _lines(log)
            time.sleep(0.05)
        time.sleep(0.3)  # a duplicate would show up by now
        watch.send_signal(signal.SIGTERM)
        watch.communicate(timeout=20)
    finally:
        watch.kill()
        watch.wait(timeout=10)
    assert sorted(_lines(log)) == sorted(expected)
    assert len(os.listdir(triggers / "done")) == len(expected)


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []
