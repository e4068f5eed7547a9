"""``persistq watch`` SIGKILLed at every rename, link and unlink of its protocol (claim,
stable link, result, done/), then restarted: every trigger ends in done/, and no two
jobs ever ran at once."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.helpers import PERSISTQ
from tests.crashpoints import crash_points

# The job: notes "start"/"end" in LOG, and "overlap" if another job held the database.
JOB = """
import fcntl, os, sys, time
name = os.environ["PERSISTQ_TRIGGER"]
with open(sys.argv[1], "a") as log, open(sys.argv[2], "a") as db:
    try:
        fcntl.flock(db, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        log.write(f"overlap {name}\\n")
    log.write(f"start {name}\\n")
    log.flush()
    time.sleep(0.1)
    log.write(f"end {name}\\n")
"""
SYSCALLS = ("rename", "link", "renameat2", "unlink")  # what the protocol calls (strace)
TRIGGERS = ["a.trigger", "b.trigger"]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_watcher_killed_at_any_point_never_runs_a_trigger_twice_at_once(
    tmp_path: Path,
) -> None:
    queue, log, db = tmp_path / "q", tmp_path / "log", tmp_path / "db"
    argv = [PERSISTQ, "watch", str(queue), "--idle-exit", "0.2", "--"]
    argv += [sys.executable, "-c", JOB, str(log), str(db)]

    def prepare() -> None:
        shutil.rmtree(queue, ignore_errors=True)
        queue.mkdir()
        for name in TRIGGERS:
            (queue / name).write_text("load\n")
        log.write_text("")

    points = 0
    for point in crash_points(argv, SYSCALLS, prepare=prepare, timeout=60):
        points += 1
        again = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        assert again.returncode == 0, f"{point}: {again.stderr}"
        lines = log.read_text().splitlines()
        assert not [line for line in lines if line.startswith("overlap")], f"{point}: {lines}"
        assert sorted(os.listdir(queue / "done")) == TRIGGERS, f"{point}: {again.stderr}"
        assert not [n for n in os.listdir(queue) if n.endswith(".wip")], point
        assert not (queue / "failed").exists(), point
        for name in TRIGGERS:
            assert f"end {name}" in lines, f"{point}: {lines}"
    # strace counts per thread, and each job runs in a thread of its own: every step of
    # the first job's protocol is hit (10 points: 2 claims, the link, done/, 6 unlinks).
    assert points >= 8
