"""``persistq schedule`` as a service, a real process each time: its metrics endpoint
scraped, its notify messages on a socket the test opens, its JSON log lines."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.cli.helpers import PERSISTQ, persistq
from tests.service.running import Running

SCHEDULES = """
queue = "triggers"

[[schedule]]
name = "latest"
cron = "* * * * *"

[[schedule]]
name = "all"
cron = "* * * * *"
catch_up = "all"
"""


def schedule_file(tmp_path: Path, minutes_ago: int) -> Path:
    """A schedule file whose state dates from ``minutes_ago`` (a scheduler ran then),
    so that a scheduler started now finds that many every-minute slots due: without
    waiting for the clock, "latest" skips all but one and "all" puts every one."""
    path = tmp_path / "schedules.toml"
    path.write_text(SCHEDULES, encoding="utf-8")
    if minutes_ago and time.time() % 60 > 45:  # the count is exact: 15 s to the next minute
        time.sleep(61 - time.time() % 60)
    then = dt.datetime.now(dt.UTC).replace(second=30, microsecond=0)
    then -= dt.timedelta(minutes=minutes_ago)
    done = persistq("schedule", str(path), "--once", "--now", then.isoformat())
    assert done.returncode == 0, done.stderr
    return path


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(url, timeout=10) as reply:
        text = reply.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """A datagram socket standing in for systemd's notify socket."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = str(tmp_path / "notify")
    sock.bind(path)
    sock.settimeout(20)
    yield sock, path
    sock.close()


def test_a_scrape_of_a_running_scheduler_counts_puts_and_missed_slots(
    tmp_path: Path, manager: tuple[socket.socket, str]
) -> None:
    sock, address = manager
    path = schedule_file(tmp_path, minutes_ago=5)
    queue = str(tmp_path / "triggers")
    argv = ("schedule", str(path), "--metrics-port", "0", "--log-format", "json")
    with Running(*argv, env={"NOTIFY_SOCKET": address}) as run:
        served = run.wait_for_line(lambda line: "serving metrics on" in line)
        url = re.findall(r"http://\S+/metrics", json.loads(served)["message"])[0]
        assert sock.recv(4096).startswith(b"READY=1")  # the due slots are put
        got = scrape(url)
        now = time.time()
        assert run.stop() == 0
    latest = (("queue", queue), ("schedule", "latest"))
    every = (("queue", queue), ("schedule", "all"))
    assert got[("persistq_schedule_triggers_put_total", every)] == 5
    assert got[("persistq_schedule_missed_slots_total", every)] == 0
    assert got[("persistq_schedule_triggers_put_total", latest)] == 1
    assert got[("persistq_schedule_missed_slots_total", latest)] == 4
    this_minute = now // 60 * 60
    assert got[("persistq_schedule_last_slot_timestamp_seconds", latest)] in (
        this_minute,
        this_minute - 60,  # the minute turned between the put and the scrape
    )
    next_slot = got[("persistq_schedule_next_slot_timestamp_seconds", latest)]
    assert next_slot == got[("persistq_schedule_last_slot_timestamp_seconds", latest)] + 60
    assert ("process_start_time_seconds", ()) in got
    assert not any(name.endswith("_created") for name, _ in got)


def test_json_log_lines_carry_queue_schedule_slot_and_file(tmp_path: Path) -> None:
    path = schedule_file(tmp_path, minutes_ago=2)
    with Running("--log-format", "json", "schedule", str(path)) as run:  # a global option
        run.wait_for_line(lambda line: "schedule all: put" in line)
        assert run.stop() == 0
    entries = [json.loads(line) for line in run.lines]  # every line is one JSON object
    assert all({"time", "level", "logger", "message"} <= set(e) for e in entries)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", e["time"]) for e in entries)
    [skipped] = [e for e in entries if "skipped slot" in e["message"]]
    assert skipped["level"] == "WARNING" and skipped["schedule"] == "latest"
    assert skipped["queue"] == str(tmp_path / "triggers")
    puts = [e for e in entries if e["message"].startswith("schedule all: put")]
    assert len(puts) == 2
    for entry in puts:
        assert entry["logger"] == "persistq.schedule.scheduler"
        assert Path(entry["file"]).parent == tmp_path / "triggers"
        assert Path(entry["file"]).exists()
        assert dt.datetime.fromisoformat(entry["slot"]).second == 0
    assert entries[-1]["message"] == "scheduler stopped"


def test_ready_then_watchdog_pings_then_stopping_on_sigterm(
    tmp_path: Path, manager: tuple[socket.socket, str]
) -> None:
    sock, address = manager
    path = schedule_file(tmp_path, minutes_ago=0)  # nothing due for up to a minute
    env = {"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "400000"}  # a ping every 0.2 s
    with Running("schedule", str(path), env=env) as run:
        ready = sock.recv(4096)
        assert ready == b"READY=1\nSTATUS=scheduling latest, all"
        started = time.monotonic()
        pings = [sock.recv(4096) for _ in range(5)]  # though the next slot is far
        assert pings == [b"WATCHDOG=1"] * 5
        assert time.monotonic() - started < 10
        assert run.stop() == 0
    rest = []
    while (message := sock.recv(4096)) != b"STOPPING=1":
        rest.append(message)
    assert set(rest) <= {b"WATCHDOG=1"}
    sock.settimeout(0.5)
    with pytest.raises(TimeoutError):
        sock.recv(4096)  # nothing after STOPPING=1


def test_without_a_watchdog_it_only_says_ready_and_stopping(
    tmp_path: Path, manager: tuple[socket.socket, str]
) -> None:
    sock, address = manager
    path = schedule_file(tmp_path, minutes_ago=0)
    with Running("schedule", str(path), env={"NOTIFY_SOCKET": address}) as run:
        assert sock.recv(4096).startswith(b"READY=1\n")
        run.wait_for_line(lambda line: "scheduling" in line)
        time.sleep(0.5)
        assert run.stop() == 0
    assert sock.recv(4096) == b"STOPPING=1"


def children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as f:
        return [int(p) for p in f.read().split()]


def test_as_pid_1_of_a_container_it_stops_on_sigterm(
    tmp_path: Path, manager: tuple[socket.socket, str]
) -> None:
    # PID 1 of a PID namespace gets no default action for a signal it has no handler
    # for: a plain Python process ignores `docker stop`'s SIGTERM; persistq handles it.
    unshare = shutil.which("unshare")
    if unshare is None or os.geteuid() != 0:
        pytest.skip("needs unshare (util-linux) run as root: apt-get install util-linux")
    sock, address = manager
    path = schedule_file(tmp_path, minutes_ago=0)
    argv = [unshare, "--pid", "--fork", "--kill-child", PERSISTQ, "schedule", str(path)]
    env = {**os.environ, "NOTIFY_SOCKET": address}
    proc = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert sock.recv(4096).startswith(b"READY=1")  # its handlers are in place
        [inner] = children(proc.pid)
        with open(f"/proc/{inner}/status", encoding="ascii") as f:
            nspids = next(line for line in f if line.startswith("NSpid:")).split()
        assert nspids[-1] == "1"  # PID 1 in its namespace
        os.kill(inner, signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert proc.returncode == 0, err
    assert "SIGTERM: stopping" in err and "scheduler stopped" in err


def test_metrics_port_mistakes_are_usage_errors(tmp_path: Path) -> None:
    path = schedule_file(tmp_path, minutes_ago=0)
    done = persistq("schedule", str(path), "--once", "--metrics-port", "0")
    assert done.returncode == 2 and "--metrics-port is for the running scheduler" in done.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = persistq("schedule", str(path), "--metrics-port", str(port), timeout=30)
    assert done.returncode == 2
    assert f"cannot serve metrics on 127.0.0.1:{port}" in done.stderr
