"""``run_forever``: sleeps until the next slot (no polling, no busy loop), puts it, and
stops cleanly on SIGTERM and SIGINT."""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from persistq.schedule import Schedule, Scheduler
from persistq.schedule.scheduler import serve
from persistq.service.notify import Notifier
from tests.schedule.helpers import triggers

FOREVER = """
import logging, sys
from persistq.schedule import Schedule, Scheduler
logging.basicConfig(level=logging.INFO, stream=sys.stderr)
Scheduler([Schedule("nightly", "30 2 * * *")], sys.argv[1]).run_forever()
print("returned")
"""


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_for(predicate: object, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_it_sleeps_without_burning_cpu_and_stops_on_a_signal(
    tmp_path: Path, signum: signal.Signals
) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", FOREVER, str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        state = tmp_path / ".persistq-schedule" / "nightly.schedule.json"
        wait_for(state.exists)  # it ran once, then went to sleep
        time.sleep(0.3)
        before = cpu_seconds(proc.pid)
        time.sleep(1.0)
        assert cpu_seconds(proc.pid) - before < 0.1  # asleep, not polling
        started = time.monotonic()
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=10)
        assert time.monotonic() - started < 5
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert proc.returncode == 0, err
    assert out == "returned\n"
    assert f"{signum.name}: stopping" in err and "scheduler stopped" in err


def test_it_wakes_at_the_next_slot_and_puts_it(tmp_path: Path) -> None:
    # A clock shifted so that the next minute starts 0.5 s from now.
    real = dt.datetime.now(dt.UTC)
    boundary = real.replace(second=0, microsecond=0) + dt.timedelta(minutes=5)
    offset = boundary - real - dt.timedelta(seconds=0.5)

    def clock() -> dt.datetime:
        return dt.datetime.now(dt.UTC) + offset

    scheduler = Scheduler([Schedule("tick", "* * * * *")], tmp_path)
    stop = threading.Event()
    loop = threading.Thread(
        target=serve, args=([scheduler],), kwargs={"stop": stop, "clock": clock}
    )
    started = time.monotonic()
    loop.start()
    try:
        wait_for(lambda: triggers(tmp_path), timeout=10)
        woke_after = time.monotonic() - started
    finally:
        stop.set()
        loop.join(timeout=10)
    assert not loop.is_alive()
    assert 0.3 < woke_after < 10  # woke for the slot, not after MAX_SLEEP
    assert triggers(tmp_path) == [f"tick.{boundary:%Y%m%dT%H%M%SZ}.trigger"]


def test_a_stop_by_its_event_is_announced_to_the_service_manager(tmp_path: Path) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as manager:
        manager.bind(str(tmp_path / "notify"))
        manager.settimeout(10)
        notifier = Notifier({"NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "100000"})
        scheduler = Scheduler([Schedule("nightly", "30 2 * * *")], tmp_path / "q")
        stop = threading.Event()
        loop = threading.Thread(
            target=serve, args=([scheduler],), kwargs={"stop": stop, "notifier": notifier}
        )
        loop.start()
        try:
            assert manager.recv(4096) == b"READY=1\nSTATUS=scheduling nightly"
            assert manager.recv(4096) == b"WATCHDOG=1"  # every 0.05 s, though 02:30 is far
            assert manager.recv(4096) == b"WATCHDOG=1"
        finally:
            stop.set()
            loop.join(timeout=10)
        assert not loop.is_alive()
        while (message := manager.recv(4096)) == b"WATCHDOG=1":
            pass
        assert message == b"STOPPING=1"
