"""``persistq watch`` as a service: its metrics endpoint scraped while it runs, the
notify protocol against a socket the test opens, and log records with their context."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from persistq.cli.watch_notify import status_text, watchdog_may_ping
from persistq.cli.watch_observer import Outcome, WatchObserver
from persistq.cli.watch_runner import Runner
from persistq.cli.watch_trigger import Settings
from persistq.folder.names import Owner, wip_name
from persistq.folder.owner import current_owner
from tests.cli.helpers import PERSISTQ, dead_pid
from tests.cli.test_watch import drop, wait_until

# Exits 3 for a trigger named bad*; otherwise waits until file RELEASE exists, exits 0.
JOB = """
import os, sys, time
if os.environ["PERSISTQ_TRIGGER"].startswith("bad"):
    sys.exit(3)
deadline = time.monotonic() + 30
while not os.path.exists(sys.argv[1]) and time.monotonic() < deadline:
    time.sleep(0.02)
"""


@pytest.fixture
def queue(tmp_path: Path) -> Path:
    folder = tmp_path / "triggers"
    folder.mkdir()
    return folder


@pytest.fixture
def stopped() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Watchers to SIGKILL at the end of the test should it fail midway."""
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def metrics_port(err: Path) -> int:
    """The port the watcher logged that it serves metrics on."""
    found: list[int] = []

    def logged() -> bool:
        match = re.search(r"serving metrics at http://127\.0\.0\.1:(\d+)/metrics", err.read_text())
        found.extend([int(match.group(1))] if match else [])
        return bool(found)

    wait_until(logged)
    return found[0]


def scrape(port: int) -> dict[str, float]:
    """The samples of the watcher's one queue, by sample name."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        text = reply.read().decode()
    return {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples}


def counts(port: int) -> dict[str, float]:
    got = scrape(port)
    names = ("started", "succeeded", "failed", "retried")
    found = {name: got[f"persistq_jobs_{name}_total"] for name in names}
    found["durations"] = got["persistq_job_duration_seconds_count"]
    found["waits"] = got["persistq_trigger_wait_seconds_count"]
    return found


@pytest.mark.timeout(60)
def test_a_scrape_of_a_running_watch_counts_its_jobs(
    queue: Path, tmp_path: Path, stopped: list[subprocess.Popen[bytes]]
) -> None:
    release, err = tmp_path / "release", tmp_path / "err"
    drop(queue, "bad.trigger")
    drop(queue, "good.trigger")
    began = time.time()
    argv = [PERSISTQ, "watch", str(queue), "--metrics-port", "0", "--retries", "1"]
    argv += ["--backoff", "0.1", "--", sys.executable, "-c", JOB, str(release)]
    with err.open("w") as stderr:
        watcher = subprocess.Popen(argv, stderr=stderr)
    stopped.append(watcher)
    port = metrics_port(err)
    # bad failed once and waits for its retry behind good, which runs until released.
    expected = {"started": 2, "succeeded": 0, "failed": 0, "retried": 1}
    wait_until(lambda: counts(port) == {**expected, "durations": 1, "waits": 2})
    release.touch()
    expected = {"started": 3, "succeeded": 1, "failed": 1, "retried": 1}
    wait_until(lambda: counts(port) == {**expected, "durations": 3, "waits": 2})
    assert sorted(os.listdir(queue / "done")) == ["good.trigger"]
    assert "bad.trigger" in os.listdir(queue / "failed")
    got = scrape(port)
    assert began <= got["persistq_job_last_success_timestamp_seconds"] <= time.time()
    assert 0 < got["persistq_job_duration_seconds_sum"] < 30
    watcher.send_signal(signal.SIGTERM)
    assert watcher.wait(timeout=20) == 1  # a trigger failed for good
    with pytest.raises(OSError):
        scrape(port)


def messages(sock: socket.socket, until: str, timeout: float = 20) -> list[dict[str, str]]:
    """The notify datagrams received up to and including one that sets ``until``."""
    got: list[dict[str, str]] = []
    deadline = time.monotonic() + timeout
    while not got or until not in got[-1]:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            data = sock.recv(4096).decode()
        except TimeoutError:
            raise AssertionError(f"no {until} within {timeout} s; got {got}") from None
        got.append(dict(line.split("=", 1) for line in data.splitlines()))
    return got


@pytest.mark.timeout(60)
def test_the_notify_protocol_of_a_watcher_under_a_service_manager(
    queue: Path, tmp_path: Path, stopped: list[subprocess.Popen[bytes]]
) -> None:
    # A trigger that a dead watcher had claimed: READY must come after its take-over.
    dead = Owner(current_owner().host, dead_pid(), 1)
    orphan = queue / wip_name("old.trigger", dead, 1)
    orphan.write_text("load it\n")
    release, address = tmp_path / "release", str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(address)
        env = {**os.environ, "NOTIFY_SOCKET": address, "WATCHDOG_USEC": "300000"}
        argv = [PERSISTQ, "watch", str(queue), "--", sys.executable, "-c", JOB, str(release)]
        watcher = subprocess.Popen(argv, env=env, stderr=subprocess.DEVNULL)
        stopped.append(watcher)
        ready = messages(sock, "READY")[-1]
        assert not orphan.exists()  # taken over before READY
        assert ready == {"READY": "1", "STATUS": f"watching {queue}: idle"}
        assert messages(sock, "STATUS")[-1] == {"STATUS": "running old.trigger"}
        # Pings every 0.15 s (half of WATCHDOG_USEC) while the job runs.
        pings: list[dict[str, str]] = []
        for _ in range(5):
            pings += messages(sock, "WATCHDOG", timeout=3)
        assert pings == [{"WATCHDOG": "1"}] * 5  # nothing else while the job runs
        watcher.send_signal(signal.SIGTERM)
        stopping = messages(sock, "STOPPING")[-1]
        assert stopping == {"STOPPING": "1", "STATUS": "stopping: finishing old.trigger"}
        release.touch()
        assert watcher.wait(timeout=20) == 0
    assert os.listdir(queue / "done") == ["old.trigger"]


class Recorder(WatchObserver):
    """Records the events, and the folder's files when the watcher says it watches."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.events: list[tuple[object, ...]] = []

    def watching(self) -> None:
        self.events.append(("watching", sorted(os.listdir(self.folder))))

    def stopping(self) -> None:
        self.events.append(("stopping",))

    def job_started(self, name: str, attempt: int, waited: float | None) -> None:
        self.events.append(("started", name, attempt, waited is not None))

    def job_finished(self, name: str, outcome: Outcome, duration: float | None) -> None:
        self.events.append(("finished", name, outcome, duration is not None))


@pytest.mark.timeout(60)
def test_the_observer_hears_of_watching_only_after_the_take_over(queue: Path) -> None:
    dead = Owner(current_owner().host, dead_pid(), 1)
    orphan = wip_name("old.trigger", dead, 1)
    (queue / orphan).write_text("load it\n")
    drop(queue, "new.trigger")
    settings = Settings(["false"], False, 1, 0.0, 0.0, 1, 0.5)
    recorder = Recorder(queue)
    assert Runner(str(queue), ".trigger", settings, recorder).run() == 1
    mine = wip_name("old.trigger", current_owner(), 1)
    assert recorder.events[0][0] == "watching"
    seen = recorder.events[0][1]
    assert isinstance(seen, list) and mine in seen and orphan not in seen
    started = [e for e in recorder.events if e[0] == "started"]
    finished = [e for e in recorder.events if e[0] == "finished"]
    assert sorted(started) == [
        ("started", "new.trigger", 1, True),
        ("started", "new.trigger", 2, False),  # the wait counts for first attempts only
        ("started", "old.trigger", 1, True),
        ("started", "old.trigger", 2, False),
    ]
    assert sorted(finished, key=str) == sorted(
        [
            ("finished", "new.trigger", Outcome.RETRIED, True),
            ("finished", "new.trigger", Outcome.FAILED, True),
            ("finished", "old.trigger", Outcome.RETRIED, True),
            ("finished", "old.trigger", Outcome.FAILED, True),
        ],
        key=str,
    )
    assert recorder.events[-1] == ("stopping",)


def test_the_watchdog_pings_only_while_the_loop_goes_round() -> None:
    assert watchdog_may_ping(now=100.0, last_beat=99.8, interval=15.0)
    assert watchdog_may_ping(now=100.0, last_beat=71.0, interval=15.0)
    assert not watchdog_may_ping(now=100.0, last_beat=70.0, interval=15.0)


def test_the_status_names_the_running_triggers_and_attempts() -> None:
    assert status_text("/q", {}, stopping=False) == "watching /q: idle"
    running = {"a.trigger": 1, "b.trigger": 3}
    assert status_text("/q", running, stopping=False) == "running a.trigger, b.trigger (attempt 3)"
    assert status_text("/q", {"a.trigger": 1}, stopping=True) == "stopping: finishing a.trigger"
    assert status_text("/q", {}, stopping=True) == "stopping"


# persistq's main() in a process where prometheus-client cannot be imported.
WITHOUT_PROMETHEUS = """
import sys
sys.modules["prometheus_client"] = None
from persistq.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.timeout(60)
def test_without_the_metrics_extra_the_watcher_runs_and_metrics_name_the_extra(
    queue: Path,
) -> None:
    def watch(*options: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-c", WITHOUT_PROMETHEUS, "watch", str(queue), *options]
        argv += ["--idle-exit", "0.5", "--", "true"]
        return subprocess.run(argv, capture_output=True, text=True, timeout=30)

    drop(queue, "a.trigger")
    refused = watch("--metrics-port", "0")
    assert refused.returncode == 2
    assert "pip install 'persistq[metrics]'" in refused.stderr
    assert (queue / "a.trigger").exists()  # nothing was claimed
    plain = watch()
    assert plain.returncode == 0, plain.stderr
    assert os.listdir(queue / "done") == ["a.trigger"]


def test_a_bad_metrics_port_is_a_usage_error(queue: Path) -> None:
    argv = [PERSISTQ, "watch", str(queue), "--metrics-port", "70000", "--", "true"]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "'70000' is not a port number" in result.stderr


# persistq's main() with its log records as JSON lines (as --log-format json would).
@pytest.mark.timeout(60)
def test_log_records_of_a_watch_carry_queue_file_and_attempt(queue: Path) -> None:
    drop(queue, "bad.trigger")
    argv = [PERSISTQ, "--log-format", "json", "watch", str(queue)]
    argv += ["--retries", "1"]
    argv += ["--backoff", "0.1", "--idle-exit", "0.5", "--", "false"]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert result.returncode == 1, result.stderr
    records = [json.loads(line) for line in result.stderr.splitlines()]
    ours = [r for r in records if r["logger"] == "persistq.cli.watch"]
    assert all(r["queue"] == str(queue) for r in ours)
    context = [
        (r["file"], r["attempt"], r["message"].split(": ", 1)[1]) for r in ours if "file" in r
    ]
    assert context[0] == ("bad.trigger", 1, "attempt 1/2: running")
    assert ("bad.trigger", 2, "attempt 2/2: running") in context
    assert context[-1][:2] == ("bad.trigger", 2) and "gave up" in context[-1][2]
