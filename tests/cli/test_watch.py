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
from persistq.cli.watch import extension_of_pattern
from persistq.cli.watch_job import command_argv
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


def wait_until(predicate: object, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.fixture
def queue(tmp_path: Path) -> Path:
    folder = tmp_path / "triggers"
    folder.mkdir()
    return folder


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
    state = queue / ".persistq-watch"
    assert sorted(os.listdir(state)) == ["running", "watch.lock"]  # nothing per trigger left
    assert os.listdir(state / "running") == []


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


# The real loader, started by a load.sh: appends "start|end NAME TIME SESSION" to LOG,
# and between the two sleeps SECONDS, or waits until file RELEASE exists.
LOADER = """
import os, sys, time
def note(word):
    with open(sys.argv[1], "a") as f:
        f.write(f"{word} {os.environ['PERSISTQ_TRIGGER']} {time.time():.6f} {os.getsid(0)}\\n")
note("start")
if sys.argv[2].startswith("/"):
    deadline = time.monotonic() + 30
    while not os.path.exists(sys.argv[2]) and time.monotonic() < deadline:
        time.sleep(0.02)
else:
    time.sleep(float(sys.argv[2]))
note("end")
"""


def load_sh(log: Path, until: str) -> list[str]:
    """A load.sh that starts the real loader as its child and waits for it."""
    script = '"$0" -c "$1" "$2" "$3"; echo loaded'
    return ["sh", "-c", script, sys.executable, LOADER, str(log), until]


def runs(log: Path) -> list[tuple[str, float, float, int]]:
    """(trigger, start, end, session) of each loader run; asserts that no two overlap."""
    lines = [line.split() for line in log.read_text().splitlines()]
    assert [w[0] for w in lines] == ["start", "end"] * (len(lines) // 2), lines
    found: list[tuple[str, float, float, int]] = []
    for (_, name, start, sid), (_, name2, end, _) in zip(lines[::2], lines[1::2], strict=True):
        assert name == name2
        assert not found or float(start) >= found[-1][2], "two loads overlapped"
        found.append((name, float(start), float(end), int(sid)))
    return found


def kill_watcher_mid_job(
    queue: Path, log: Path, release: Path, *options: str
) -> subprocess.Popen[str]:
    """Start a watcher on c and d, SIGKILL it while c's loader runs (until ``release``
    exists); start a new one (with ``options``) and wait until it took c over."""
    argv = [PERSISTQ, "watch", str(queue), "--idle-exit", "1", "--"]
    drop(queue, "c.trigger")
    drop(queue, "d.trigger")
    first = subprocess.Popen([*argv, *load_sh(log, str(release))], stderr=subprocess.DEVNULL)
    wait_until(lambda: log.exists() and "start c.trigger" in log.read_text())
    first.kill()
    first.wait()
    argv[-1:-1] = options
    second = subprocess.Popen([*argv, *load_sh(log, "0.3")], stderr=subprocess.PIPE, text=True)
    wait_until(lambda: any(f"@{second.pid}@" in n for n in os.listdir(queue)))
    return second


@pytest.mark.timeout(60)
def test_a_restarted_watcher_waits_for_the_orphaned_job_and_uses_its_result(
    queue: Path, tmp_path: Path
) -> None:
    log, release = tmp_path / "log", tmp_path / "release"
    second = kill_watcher_mid_job(queue, log, release)
    time.sleep(0.5)  # the new watcher waits: it starts nothing while the orphan runs
    assert [line.split()[0] for line in log.read_text().splitlines()] == ["start"]
    release.touch()
    _, err = second.communicate(timeout=40)
    assert second.returncode == 0, err
    assert "c.trigger: waiting for the processes of an earlier job to end" in err
    assert "c.trigger: attempt 1 outlived the watcher that started it" in err
    # c ran once, to its end, in the killed watcher's job; d only after it.
    assert [r[0] for r in runs(log)] == ["c.trigger", "d.trigger"]
    assert sorted(os.listdir(queue / "done")) == ["c.trigger", "d.trigger"]


@pytest.mark.timeout(60)
def test_a_watcher_stopped_while_waiting_gives_the_trigger_back_to_the_next_one(
    queue: Path, tmp_path: Path
) -> None:
    log, release = tmp_path / "log", tmp_path / "release"
    second = kill_watcher_mid_job(queue, log, release)
    second.send_signal(signal.SIGTERM)
    _, err = second.communicate(timeout=40)
    assert second.returncode == 0, err
    assert (queue / "c.trigger").exists() and (queue / "d.trigger").exists()
    assert (queue / ".persistq-watch" / "running" / "c.trigger").exists()  # the orphan's path
    release.touch()
    third = persistq("watch", str(queue), "--idle-exit", "1", "--", *load_sh(log, "0.1"))
    assert third.returncode == 0, third.stderr
    assert "c.trigger: attempt 1 outlived the watcher that started it" in third.stderr
    assert [r[0] for r in runs(log)] == ["c.trigger", "d.trigger"]


@pytest.mark.timeout(60)
def test_an_orphaned_job_whose_result_is_lost_runs_again_once_it_ended(
    queue: Path, tmp_path: Path
) -> None:
    log, release = tmp_path / "log", tmp_path / "release"
    second = kill_watcher_mid_job(queue, log, release)
    # Kill the job's wrapper too (the session leader): nothing records the exit code,
    # while load.sh and its loader live on.
    os.kill(int(log.read_text().split()[3]), signal.SIGKILL)
    time.sleep(0.3)
    release.touch()
    _, err = second.communicate(timeout=40)
    assert second.returncode == 0, err
    names = [r[0] for r in runs(log)]
    assert names == ["c.trigger", "c.trigger", "d.trigger"]  # once more, after the orphan
    assert sorted(os.listdir(queue / "done")) == ["c.trigger", "d.trigger"]


@pytest.mark.timeout(60)
def test_with_concurrency_others_run_beside_an_orphaned_job(queue: Path, tmp_path: Path) -> None:
    log, release = tmp_path / "log", tmp_path / "release"
    second = kill_watcher_mid_job(queue, log, release, "--concurrency", "2")
    wait_until(lambda: "end d.trigger" in log.read_text())
    release.touch()
    _, err = second.communicate(timeout=40)
    assert second.returncode == 0, err
    lines = [line.split()[:2] for line in log.read_text().splitlines()]
    assert lines == [
        ["start", "c.trigger"],
        ["start", "d.trigger"],
        ["end", "d.trigger"],
        ["end", "c.trigger"],
    ]
    assert sorted(os.listdir(queue / "done")) == ["c.trigger", "d.trigger"]


@pytest.mark.timeout(30)
def test_sigterm_finishes_the_running_job(queue: Path, tmp_path: Path) -> None:
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


@pytest.mark.timeout(30)
def test_a_second_ctrl_c_gives_the_trigger_back_and_exits_130(queue: Path, tmp_path: Path) -> None:
    log = tmp_path / "log"
    argv = [PERSISTQ, "watch", str(queue), "--", sys.executable, "-c", SLOW, str(log), "30"]
    drop(queue, "f.trigger")
    runner = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True)
    wait_until(lambda: log.exists() and "start f.trigger" in log.read_text())
    runner.send_signal(signal.SIGINT)
    time.sleep(0.2)
    runner.send_signal(signal.SIGINT)
    _, err = runner.communicate(timeout=20)
    assert runner.returncode == 130, err
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


@pytest.mark.timeout(30)
def test_a_command_that_is_not_found_stops_the_watcher_and_fails_nothing(queue: Path) -> None:
    names = [f"t{i}.trigger" for i in range(5)]
    for name in names:
        drop(queue, name)
    # load.sh itself runs, but calls a program with a typo in its name: exit 127.
    result = persistq("watch", str(queue), "--retries", "2", "--", "sh", "-c", 'lod_db "$1"', "sh")
    assert result.returncode == 2, result.stderr
    assert "could not be run on t0.trigger (exit 127: not found" in result.stderr
    assert "lod_db" in result.stderr  # the shell's own message, from the output
    assert "given back as it was" in result.stderr
    assert sorted(n for n in os.listdir(queue) if (queue / n).is_file()) == names
    assert not (queue / "failed").exists()


@pytest.mark.timeout(30)
def test_a_command_with_a_typo_is_refused_before_anything_is_claimed(queue: Path) -> None:
    drop(queue, "a.trigger")
    for typo in ("./lod.sh", "lod-into-db"):
        result = persistq("watch", str(queue), "--", typo)
        assert result.returncode == 2 and f"COMMAND {typo!r}" in result.stderr, result.stderr
        assert "nothing was claimed" in result.stderr
    assert os.listdir(queue) == ["a.trigger"]


# Appends "run NAME" to LOG; fails on triggers whose name starts with "bad".
PICKY = """
import os, sys
name = os.environ["PERSISTQ_TRIGGER"]
with open(sys.argv[1], "a") as f:
    f.write(f"run {name}\\n")
sys.exit(3 if name.startswith("bad") else 0)
"""

# Appends "run NAME at TIME" to LOG and fails.
TIMED = """
import os, sys, time
with open(sys.argv[1], "a") as f:
    f.write(f"run {os.environ['PERSISTQ_TRIGGER']} at {time.time()}\\n")
sys.exit(3)
"""


@pytest.mark.timeout(30)
def test_a_healthy_trigger_does_not_wait_behind_a_failing_ones_backoff(
    queue: Path, tmp_path: Path
) -> None:
    log = tmp_path / "log"
    drop(queue, "bad.trigger")
    drop(queue, "good.trigger")
    result = persistq(
        "watch", str(queue), "--retries", "1", "--backoff", "2", "--idle-exit", "0.5",
        "--", sys.executable, "-c", PICKY, str(log),
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    # bad's retry, claimed at once, waits without holding the only job slot.
    runs = log.read_text().splitlines()
    assert runs == ["run bad.trigger", "run good.trigger", "run bad.trigger"]
    assert os.listdir(queue / "done") == ["good.trigger"]
    assert os.path.exists(queue / "failed" / "bad.trigger")


@pytest.mark.timeout(30)
def test_a_restarted_watcher_waits_for_the_backoff_of_a_retry_queued_before(
    queue: Path, tmp_path: Path
) -> None:
    log = tmp_path / "log"
    drop(queue, "bad.retry2.trigger")  # as a stopped watcher's failed attempt 1 left it
    queued = time.time()
    # The reader, from the retry file's ctime, holds it back: 30 s capped to 1 s.
    result = persistq(
        "watch", str(queue), "--retries", "1", "--backoff", "30", "--max-backoff", "1",
        "--idle-exit", "0.2", "--", sys.executable, "-c", TIMED, str(log),
    )  # fmt: skip
    assert result.returncode == 1, result.stderr  # bad failed for good
    (run,) = log.read_text().splitlines()
    assert run.startswith("run bad.trigger at ")
    assert float(run.rsplit(" ", 1)[1]) >= queued + 0.9  # not before it was due
    assert os.path.exists(queue / "failed" / "bad.trigger")


@pytest.mark.timeout(30)
def test_the_command_reads_the_trigger_by_a_path_that_outlives_a_take_over(
    queue: Path, tmp_path: Path
) -> None:
    drop(queue, "g.trigger", "load table g\n")
    copy = tmp_path / "copy"
    code = (
        "import sys; p = sys.stdin.readline().strip(); "
        "open(sys.argv[1], 'w').write(p + '|' + open(p).read())"
    )
    result = persistq(
        "watch", str(queue), "--stdin", "--idle-exit", "0.5",
        "--", sys.executable, "-c", code, str(copy),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    path, content = copy.read_text().split("|")
    assert path == str(queue / ".persistq-watch" / "running" / "g.trigger")
    assert content == "load table g\n"


@pytest.mark.timeout(60)
def test_two_watchers_of_one_folder_run_one_job_at_a_time(queue: Path, tmp_path: Path) -> None:
    log = tmp_path / "log"
    for name in ("h.trigger", "i.trigger", "j.trigger"):
        drop(queue, name)
    argv = [PERSISTQ, "watch", str(queue), "--idle-exit", "1", "--", *load_sh(log, "0.4")]
    watchers = [subprocess.Popen(argv, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for watcher in watchers:
        _, err = watcher.communicate(timeout=40)
        assert watcher.returncode == 0, err
    assert sorted(r[0] for r in runs(log)) == ["h.trigger", "i.trigger", "j.trigger"]
    assert len({r[3] for r in runs(log)}) == 3  # three jobs, none beside another
