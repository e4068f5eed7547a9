"""``persistq watch``: the trigger-file runner, run as a real process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from persistq.cli.common import CliError
from persistq.cli.watch import backoff_delay, command_argv, extension_of_pattern
from tests.cli.helpers import PERSISTQ, persistq

# Fails until it has run FAILS times for a trigger; counts runs in <trigger name>.count.
FLAKY = """
import os, sys
count = os.path.join(sys.argv[1], os.environ["PERSISTQ_TRIGGER"] + ".count")
n = int(open(count).read()) + 1 if os.path.exists(count) else 1
open(count, "w").write(str(n))
print("run", n, "of", os.environ["PERSISTQ_TRIGGER"], "attempt", os.environ["PERSISTQ_ATTEMPT"])
sys.exit(0 if n > int(sys.argv[2]) else 3)
"""

# Appends "start NAME" and, after SECONDS, "end NAME" to LOG.
SLOW = """
import os, sys, time
name = os.path.basename(sys.argv[3]).split("@")[0]
with open(sys.argv[1], "a") as f:
    f.write(f"start {name}\\n")
time.sleep(float(sys.argv[2]))
with open(sys.argv[1], "a") as f:
    f.write(f"end {name}\\n")
"""


def drop(folder: Path, name: str, text: str = "load it\n") -> None:
    """Write a trigger elsewhere and rename it in, as a producer should."""
    tmp = folder.parent / ("." + name)
    tmp.write_text(text)
    os.rename(tmp, folder / name)


def wait_until(predicate: object, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.fixture
def queue(tmp_path: Path) -> Path:
    folder = tmp_path / "triggers"
    folder.mkdir()
    return folder


def test_backoff_doubles_up_to_the_cap() -> None:
    assert [backoff_delay(n, 1.5, 10) for n in (1, 2, 3, 4, 5)] == [1.5, 3.0, 6.0, 10.0, 10.0]


def test_patterns_and_command_lines() -> None:
    assert extension_of_pattern("*.trigger") == ".trigger"
    for bad in ("load.trigger", "*.t*", "*"):
        with pytest.raises(CliError, match="--pattern"):
            extension_of_pattern(bad)
    assert command_argv(["load", "-f", "{}", "-q"], "/q/x", stdin=False) == [
        "load",
        "-f",
        "/q/x",
        "-q",
    ]
    assert command_argv(["load"], "/q/x", stdin=False) == ["load", "/q/x"]
    assert command_argv(["load"], "/q/x", stdin=True) == ["load"]


@pytest.mark.timeout(30)
def test_a_command_that_fails_twice_then_succeeds(queue: Path, tmp_path: Path) -> None:
    drop(queue, "a.trigger")
    result = persistq(
        "watch",
        str(queue),
        "--retries",
        "2",
        "--backoff",
        "0.1",
        "--idle-exit",
        "1",
        "--",
        sys.executable,
        "-c",
        FLAKY,
        str(tmp_path),
        "2",
    )
    assert result.returncode == 0, result.stderr
    assert (queue / "done" / "a.trigger").read_text() == "load it\n"
    assert (tmp_path / "a.trigger.count").read_text() == "3"
    log = result.stderr
    assert "a.trigger: attempt 1/3: running" in log
    assert "retry in 0.1 s" in log and "retry in 0.2 s" in log
    assert "a.trigger: done in" in log
    assert not (queue / "failed").exists()
    assert os.listdir(queue / ".persistq-watch") == []


@pytest.mark.timeout(30)
def test_a_command_that_always_fails_goes_to_failed_with_its_output(
    queue: Path, tmp_path: Path
) -> None:
    drop(queue, "b.trigger")
    result = persistq(
        "watch",
        str(queue),
        "--pattern",
        "*.trigger",
        "--retries",
        "1",
        "--backoff",
        "0.05",
        "--idle-exit",
        "1",
        "--",
        sys.executable,
        "-c",
        FLAKY,
        str(tmp_path),
        "99",
    )
    assert result.returncode == 1, result.stderr
    failed = queue / "failed"
    assert (failed / "b.trigger").read_text() == "load it\n"
    reason = json.loads((failed / "b.trigger.reason.json").read_text())
    assert reason["attempts"] == 2 and "exited with code 3" in reason["reason"]
    output = (failed / "b.trigger.output").read_text()
    assert "run 1 of b.trigger attempt 1" in output and "run 2 of b.trigger attempt 2" in output
    assert "gave up" in result.stderr
    assert persistq("status", str(queue)).stdout.count("b.trigger") == 1


@pytest.mark.timeout(60)
def test_a_runner_killed_mid_job_resumes_that_trigger(queue: Path, tmp_path: Path) -> None:
    log = tmp_path / "log"
    argv = [
        PERSISTQ,
        "watch",
        str(queue),
        "--idle-exit",
        "1",
        "--",
        sys.executable,
        "-c",
        SLOW,
        str(log),
        "1.5",
    ]
    drop(queue, "c.trigger")
    drop(queue, "d.trigger")
    first = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True)
    wait_until(lambda: log.exists() and "start c.trigger" in log.read_text())
    first.send_signal(signal.SIGKILL)
    first.wait()
    claimed = [n for n in os.listdir(queue) if n.endswith(".wip")]
    assert claimed and claimed[0].startswith("c.trigger@") and f"@{first.pid}@" in claimed[0]
    time.sleep(2)  # the command died with its runner: it never ends
    assert log.read_text() == "start c.trigger\n"
    status = persistq("status", str(queue))
    assert status.returncode == 1 and "dead" in status.stdout

    second = subprocess.run(argv, capture_output=True, text=True, timeout=40)
    assert second.returncode == 0, second.stderr
    assert f"resuming c.trigger: its runner (PID {first.pid}" in second.stderr
    assert log.read_text().splitlines() == [
        "start c.trigger",
        "start c.trigger",
        "end c.trigger",
        "start d.trigger",
        "end d.trigger",
    ]
    assert sorted(os.listdir(queue / "done")) == ["c.trigger", "d.trigger"]


@pytest.mark.timeout(30)
def test_sigterm_finishes_the_running_job_and_a_second_gives_it_back(
    queue: Path, tmp_path: Path
) -> None:
    log = tmp_path / "log"
    argv = [PERSISTQ, "watch", str(queue), "--", sys.executable, "-c", SLOW, str(log), "1"]
    drop(queue, "e.trigger")
    drop(queue, "f.trigger")
    runner = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True)
    wait_until(lambda: log.exists() and "start e.trigger" in log.read_text())
    runner.send_signal(signal.SIGTERM)
    _, err = runner.communicate(timeout=20)
    assert runner.returncode == 0, err
    assert "finishing the running job" in err
    assert os.listdir(queue / "done") == ["e.trigger"]
    assert (queue / "f.trigger").exists()  # never claimed

    runner = subprocess.Popen([*argv[:-1], "30"], stderr=subprocess.PIPE, text=True)
    wait_until(lambda: "start f.trigger" in log.read_text())
    runner.send_signal(signal.SIGINT)
    runner.send_signal(signal.SIGTERM)
    _, err = runner.communicate(timeout=20)
    assert runner.returncode == 0, err
    assert "f.trigger: given back unfinished (as f.trigger)" in err
    assert (queue / "f.trigger").exists()
    assert "end f.trigger" not in log.read_text()


@pytest.mark.timeout(30)
def test_watch_user_errors(queue: Path) -> None:
    no_command = persistq("watch", str(queue))
    assert no_command.returncode == 2 and "no COMMAND given" in no_command.stderr
    bad = persistq("watch", str(queue), "--pattern", "load*", "--", "true")
    assert bad.returncode == 2 and "--pattern 'load*'" in bad.stderr
    dashes = persistq("status", str(queue), "--", "true")
    assert dashes.returncode == 2 and "takes no COMMAND" in dashes.stderr
