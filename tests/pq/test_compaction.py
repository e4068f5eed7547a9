"""Compaction: a pickup directory's journals shrink to its outstanding work, crash-safely."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from persistq import PersistentQueue, PersistqError
from persistq.errors import LiveRunError
from persistq.journal.naming import journal_file_name
from persistq.pickup import compact, compaction_file_name
from persistq.processes import writer_token


def make_run(directory: Path) -> list[str]:
    """Journals as a finished process leaves them; returns what is outstanding."""
    q = PersistentQueue("jobs", directory, use_queue=False)
    for i in range(30):
        q.put(f"item{i % 25}")
        if i % 3 == 0:
            q.task_done(f"item{i % 25}")
    q.dispose()
    mine, gone = os.getpid(), dead_pid()
    for kind in ("requested", "completed"):  # as if written by a process now gone
        (mine_path,) = directory.glob(f"jobs_{kind}_PID{mine}_*.tsv")
        os.rename(mine_path, directory / f"jobs_{kind}_PID{gone}.tsv")
    expected = PersistentQueue("jobs", None, directory).get_list_of_outstanding_work()
    assert expected
    return expected


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def outstanding(directory: Path) -> list[str]:
    return PersistentQueue("jobs", None, directory).get_list_of_outstanding_work()


def test_compaction_keeps_exactly_the_outstanding_work(tmp_path: Path) -> None:
    expected = make_run(tmp_path)
    path = compact(tmp_path, "jobs")
    assert path is not None
    assert sorted(p.name for p in tmp_path.iterdir()) == [os.path.basename(path)]
    assert outstanding(tmp_path) == expected
    assert compact(tmp_path, "jobs") is not None
    assert outstanding(tmp_path) == expected


def test_nothing_to_compact(tmp_path: Path) -> None:
    assert compact(tmp_path, "jobs") is None


def crash_at(monkeypatch: pytest.MonkeyPatch, name: str, call: int) -> None:
    real: Callable[..., None] = getattr(os, name)
    calls = [0]

    def failing(*args: object, **kwargs: object) -> None:
        calls[0] += 1
        if calls[0] == call:
            raise KeyboardInterrupt(f"simulated crash at {name} call {call}")
        real(*args, **kwargs)

    monkeypatch.setattr(os, name, failing)


@pytest.mark.parametrize(
    ("name", "call"), [("link", 1), ("unlink", 2), ("unlink", 3), ("unlink", 4), ("replace", 1)]
)
def test_a_crash_at_any_step_changes_nothing_outstanding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, call: int
) -> None:
    expected = make_run(tmp_path)
    with monkeypatch.context() as patch:
        crash_at(patch, name, call)
        with pytest.raises(KeyboardInterrupt):
            compact(tmp_path, "jobs")
    assert outstanding(tmp_path) == expected
    compact(tmp_path, "jobs")
    assert outstanding(tmp_path) == expected
    assert not (tmp_path / compaction_file_name("jobs")).exists()
    assert len(list(tmp_path.glob("*.tsv"))) == 1


def test_refuses_while_a_writer_may_be_alive(tmp_path: Path) -> None:
    make_run(tmp_path)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        name = journal_file_name("jobs", "completed", sleeper.pid, token=writer_token(sleeper.pid))
        (tmp_path / name).write_bytes(b"")
        with pytest.raises(LiveRunError, match=f"PID{sleeper.pid}_.*process {sleeper.pid}"):
            compact(tmp_path, "jobs")
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_corrupt_compaction_record_is_named(tmp_path: Path) -> None:
    make_run(tmp_path)
    (tmp_path / compaction_file_name("jobs")).write_text('{"journal": "../escape.tsv"}')
    with pytest.raises(PersistqError, match="jobs_compaction.json"):
        outstanding(tmp_path)


def test_recovering_in_place_compacts_so_journals_stay_small(tmp_path: Path) -> None:
    first = PersistentQueue("jobs", tmp_path)
    for i in range(50):
        first.put(f"item{i}")
    first.dispose()
    for run in range(5):
        q = PersistentQueue("jobs", tmp_path, tmp_path)
        requeued = q.requeue_unprocessed_work()
        assert requeued == [f"item{i}" for i in range(run * 10, 50)]
        for _ in range(10):
            q.task_done(q.get(timeout=5))
        q.dispose()
        assert len(list(tmp_path.glob("jobs_*.tsv"))) <= 3
