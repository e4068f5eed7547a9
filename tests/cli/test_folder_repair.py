"""``persistq reset/requeue/purge`` on a folder queue: no producer marker ever, live
claims kept unless ``--all``, every crash point of reset leaves the folder usable
(issue 10 #12, issue 11 one give-back, issue 12 #4)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from persistq.cli import main
from persistq.folder import WritableFolderQueue, files
from persistq.folder.names import Owner, marker_kind, wip_name
from tests.cli.helpers import dead_pid, persistq, persistq_here
from tests.crashpoints import crash_points, python_argv, require_strace

pytestmark = pytest.mark.timeout(120)

WORKER = """
import sys, time
from persistq import ReadableFolderQueue
r = ReadableFolderQueue(sys.argv[1], task_done_directory=sys.argv[2])
wip = r.get(timeout=5000)
print("claimed", flush=True)
sys.stdin.readline()          # hold the claim until told to finish
r.task_done(wip)
print("finished", flush=True)
"""


@pytest.fixture
def live_worker(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen[str]]]:
    """A queue folder whose file ``live.tsv`` is claimed by a running worker process,
    and whose ``dead.tsv`` is claimed by a process that is gone."""
    q = tmp_path / "q"
    q.mkdir()
    (q / "live.tsv").write_text("x")
    worker = subprocess.Popen(
        [sys.executable, "-c", WORKER, str(q), str(tmp_path / "done")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert worker.stdout is not None
    assert worker.stdout.readline() == "claimed\n"
    (q / wip_name("dead.tsv", Owner(socket.gethostname(), dead_pid(), 1), 1)).write_text("x")
    try:
        yield q, worker
    finally:
        worker.kill()
        worker.wait()


def finish(worker: subprocess.Popen[str]) -> str:
    out, _ = worker.communicate("go\n", timeout=30)
    return out


def test_reset_yes_keeps_live_claims_and_writes_no_marker(
    live_worker: tuple[Path, subprocess.Popen[str]],
) -> None:
    q, worker = live_worker
    reset = persistq("reset", "--yes", str(q))
    assert reset.returncode == 0, reset.stderr
    assert "1 claimed file(s) taken back; 1 still claimed by live processes" in reset.stdout
    assert (q / "dead.tsv").exists()
    assert [n for n in os.listdir(q) if marker_kind(n)] == []
    assert finish(worker) == "finished\n"  # its task_done found its claim
    assert worker.returncode == 0


def test_reset_all_takes_live_claims_only_when_confirmed(
    live_worker: tuple[Path, subprocess.Popen[str]],
) -> None:
    q, _ = live_worker
    refused = persistq("reset", "--all", str(q))
    assert refused.returncode == 2 and "pass --yes" in refused.stderr
    assert not (q / "live.tsv").exists()
    taken = persistq("reset", "--all", "--yes", str(q))
    assert taken.returncode == 0, taken.stderr
    assert (q / "live.tsv").exists() and (q / "dead.tsv").exists()


def test_requeue_gives_back_through_the_library_and_syncs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    q = tmp_path / "q"
    q.mkdir()
    (q / wip_name("a.tsv", Owner(socket.gethostname(), os.getpid(), 0), 2)).write_text("x")
    synced: list[str] = []
    monkeypatch.setattr(files, "fsync_directory", synced.append)
    assert main(["requeue", "--all", "--yes", str(q)]) == 0
    assert "took back 1 file(s); 0 still claimed" in capsys.readouterr().out
    assert os.listdir(q) == ["a.retry2.tsv"]
    assert str(q) in synced


def test_prefix_is_an_error_for_a_folder_queue_and_purge_counts(tmp_path: Path) -> None:
    q = tmp_path / "q"
    w = WritableFolderQueue(q)
    for name in ("a.tsv", "b.tsv"):
        (tmp_path / name).write_text("x")
        w.put(tmp_path / name)
    for command in ("reset", "purge", "requeue"):
        typo = persistq(command, "--yes", "--prefix", "itmes", str(q))
        assert typo.returncode == 2, typo.stdout
        assert "--prefix 'itmes'" in typo.stderr and "folder queue" in typo.stderr
    purged = persistq("purge", "--yes", str(q))
    assert purged.returncode == 0, purged.stderr
    assert "deleted 2 message(s), 0 claimed file(s), 1 marker(s) and 0 lease(s)" in purged.stdout


def test_reset_killed_at_any_point_leaves_no_marker_of_its_own(tmp_path: Path) -> None:
    require_strace()
    q = tmp_path / "q"
    dead = Owner(socket.gethostname(), dead_pid(), 1)

    def prepare() -> None:
        q.mkdir(exist_ok=True)
        for name in os.listdir(q):
            os.unlink(q / name)
        (q / "p1.helo").write_text("{}")
        (q / wip_name("a.tsv", dead, 1)).write_text("x")

    code = f"from persistq.cli import main\nraise SystemExit(main(['reset', '--yes', {str(q)!r}]))"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    syscalls = ("rename", "renameat2", "unlink", "write", "fsync")
    points = 0
    for point in crash_points(python_argv(code), syscalls, prepare=prepare, env=env):
        points += 1
        markers = [n for n in os.listdir(q) if marker_kind(n)]
        assert markers in ([], ["p1.helo"]), f"{point}: {markers}"
        again = persistq_here("reset", "--yes", str(q))  # a second reset finishes the job
        assert again.returncode == 0, again.stderr
        assert sorted(os.listdir(q)) == ["a.tsv"], point
    assert points >= 4


def test_watch_keeps_a_trigger_name_used_again_by_the_library_rule(tmp_path: Path) -> None:
    folder = tmp_path / "triggers"
    (folder / "done").mkdir(parents=True)
    (folder / "done" / "x.trigger").write_text("yesterday\n")
    (folder / "x.trigger").write_text("today\n")
    run = persistq(
        "watch", str(folder), "--pattern", "*.trigger", "--idle-exit", "0.5", "--", "true"
    )
    assert run.returncode == 0, run.stderr
    done = folder / "done"
    assert sorted(os.listdir(done)) == ["x.again2.trigger", "x.trigger"]
    assert (done / "x.trigger").read_text() == "yesterday\n"
    assert (done / "x.again2.trigger").read_text() == "today\n"


def test_requeue_killed_at_any_point_loses_and_doubles_nothing(tmp_path: Path) -> None:
    require_strace()
    q = tmp_path / "q"
    dead = Owner(socket.gethostname(), dead_pid(), 1)

    def prepare() -> None:
        shutil.rmtree(q, ignore_errors=True)
        (q / "failed").mkdir(parents=True)
        (q / "failed" / "f.tsv").write_text("failed file")
        (q / "failed" / "f.tsv.reason.json").write_text("{}")
        (q / wip_name("c.tsv", dead, 1)).write_text("claimed file")

    code = (
        "from persistq.cli import main\n"
        f"main(['requeue', {str(q)!r}])\n"
        f"raise SystemExit(main(['requeue', '--failed', {str(q)!r}]))\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    syscalls = ("rename", "renameat2", "unlink", "write")
    for point in crash_points(python_argv(code), syscalls, prepare=prepare, env=env):
        f_places = [p for p in (q / "f.tsv", q / "failed" / "f.tsv") if p.exists()]
        c_places = [n for n in os.listdir(q) if n.startswith("c.tsv")]
        assert len(f_places) == 1 and len(c_places) == 1, f"{point}: {f_places} {c_places}"
        assert persistq_here("requeue", str(q)).returncode == 0
        assert persistq_here("requeue", "--failed", str(q)).returncode == 0
        assert sorted(n for n in os.listdir(q) if not n.startswith(".")) == [
            "c.tsv",
            "f.tsv",
            "failed",
        ], point
        assert (q / "f.tsv").read_text() == "failed file"
