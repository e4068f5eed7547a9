"""Four scheduler processes race on one state directory over many slots (each passing
its own fake ``now``) while a consumer deletes triggers as they appear: every slot is
put exactly once, by exactly one process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from persistq.schedule import Schedule, Scheduler
from persistq.schedule.trigger import trigger_name
from tests.schedule.helpers import minutes, triggers

PROCESSES = 4
MINUTES = 360
RACER = """
import datetime as dt, json, os, sys, time
from persistq.schedule import Schedule, Scheduler
queue, me, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
schedules = [Schedule("each", "* * * * *", catch_up="all"),
             Schedule("third", "*/3 * * * *", catch_up="all")]
scheduler = Scheduler(schedules, queue)
deadline = time.monotonic() + 30
while not os.path.exists(os.path.join(queue, "..", "go")):
    assert time.monotonic() < deadline
    time.sleep(0.005)
start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
put = []
for k in range(1, count + 1):
    now = start + dt.timedelta(minutes=k, seconds=me * 7)
    put += [os.path.basename(p) for p in scheduler.run_pending(now)]
print(json.dumps(put))
"""


def expected() -> list[str]:
    names = [trigger_name("each", minutes(k), ".trigger") for k in range(1, MINUTES + 1)]
    names += [trigger_name("third", minutes(k), ".trigger") for k in range(3, MINUTES + 1, 3)]
    return sorted(names)


@pytest.mark.timeout(120)
def test_four_schedulers_on_one_state_dir_put_each_slot_once(tmp_path: Path) -> None:
    queue = tmp_path / "q"
    schedules = [
        Schedule("each", "* * * * *", catch_up="all"),
        Schedule("third", "*/3 * * * *", catch_up="all"),
    ]
    Scheduler(schedules, queue).run_pending(minutes(0))  # the state starts here
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(queue), str(i), str(MINUTES)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(PROCESSES)
    ]
    consumed: list[str] = []
    stop = threading.Event()

    def consume() -> None:
        while not stop.is_set():
            for name in triggers(queue):
                os.unlink(queue / name)
                consumed.append(name)
            time.sleep(0.001)

    consumer = threading.Thread(target=consume)
    consumer.start()
    (tmp_path / "go").touch()
    try:
        outputs = [racer.communicate(timeout=100)[0] for racer in racers]
    finally:
        stop.set()
        consumer.join(timeout=10)
        for racer in racers:
            racer.kill()
    assert [racer.returncode for racer in racers] == [0] * PROCESSES
    consumed += triggers(queue)
    put_by = [json.loads(out) for out in outputs]
    put = Counter(name for names in put_by for name in names)
    print("slots put by each process:", [len(names) for names in put_by])
    assert sorted(put) == expected() and set(put.values()) == {1}
    assert sorted(consumed) == expected()  # none seen twice, even after it was deleted
    assert sum(1 for names in put_by if names) >= 2  # the processes really raced
