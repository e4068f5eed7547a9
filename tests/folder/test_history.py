"""Per-file history: every attempt's reason kept, a success after failures recorded,
failed files sent back with their history, and the read model behind
``persistq status --files`` (issue 12)."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

from persistq import ReadableFolderQueue, WritableFolderQueue
from persistq.folder import history
from persistq.folder.admin import FolderAdmin
from persistq.folder.manifest import read_manifest
from persistq.folder.names import Owner, wip_name
from tests.cli.helpers import dead_pid, persistq

pytestmark = pytest.mark.timeout(60)


def queue_with(tmp_path: Path, *names: str) -> Path:
    q = tmp_path / "q"
    w = WritableFolderQueue(q)
    for name in names:
        (tmp_path / name).write_text(f"data of {name}\n")
        w.put(tmp_path / name)
    return q


def claim(r: ReadableFolderQueue) -> str:
    wip = r.get(timeout=1000)
    assert isinstance(wip, str)
    return wip


def test_a_file_that_failed_twice_then_succeeded_leaves_a_record(tmp_path: Path) -> None:
    q = queue_with(tmp_path, "a.tsv")
    r = ReadableFolderQueue(q, task_done_directory=q / "done", max_attempts=3)
    r.task_failed(claim(r), "bad row 3")
    r.task_failed(claim(r), "database busy")
    r.task_done(claim(r))
    r.dispose()
    [record] = read_manifest(str(q), ".tsv")
    assert (record.name, record.status, record.attempts) == ("a.tsv", "done", 3)
    assert [(e.attempt, e.reason) for e in record.errors] == [
        (1, "bad row 3"),
        (2, "database busy"),
    ]
    assert [e.event for e in record.history] == ["failed", "failed", "done"]
    assert all(e.utc and e.pid == os.getpid() for e in record.history)


def test_every_reason_is_kept_when_a_file_gives_up(tmp_path: Path) -> None:
    q = queue_with(tmp_path, "a.tsv")
    r = ReadableFolderQueue(q, max_attempts=2)
    r.task_failed(claim(r), "first")
    final = r.task_failed(claim(r), "second")
    r.dispose()
    reason = json.loads(Path(final + ".reason.json").read_text())
    assert reason["reason"] == "second"
    assert [(e["attempt"], e["reason"]) for e in reason["history"]] == [
        (1, "first"),
        (2, "second"),
    ]


def test_failed_files_go_back_as_first_attempts_with_their_history(tmp_path: Path) -> None:
    q = queue_with(tmp_path, "a.tsv", "b.tsv")
    r = ReadableFolderQueue(q)
    r.task_failed(claim(r), "a broke")
    r.task_failed(claim(r), "b broke")
    admin = FolderAdmin(q, ".tsv")
    with pytest.raises(FileNotFoundError, match=r"no failed file named c\.tsv"):
        admin.requeue_failed(["c.tsv"])
    assert admin.requeue_failed(["b.tsv"]) == [str(q / "b.tsv")]
    assert admin.failed_files() == ["a.tsv"]
    assert not (q / "failed" / "b.tsv.reason.json").exists()
    again = claim(r)
    assert again.endswith("@1.wip") and os.path.basename(again).startswith("b.tsv@")
    events = history.read_history(str(q), "b.tsv")
    assert [(e.event, e.reason) for e in events] == [("failed", "b broke"), ("requeued", None)]
    r.dispose()


def test_a_torn_history_line_is_skipped(tmp_path: Path) -> None:
    path = Path(history.history_path(str(tmp_path), "a.tsv"))
    path.parent.mkdir()
    good = history.encode(history.Event("failed", 1, "2026-01-01T00:00:00+00:00", "x"))
    path.write_bytes(good + good[:10])
    assert [e.reason for e in history.read_history(str(tmp_path), "a.tsv")] == ["x"]


def test_status_files_and_requeue_failed_on_the_command_line(tmp_path: Path) -> None:
    q = queue_with(tmp_path, "a.tsv")
    r = ReadableFolderQueue(q, task_done_directory=q / "done", max_attempts=2)
    r.task_failed(claim(r), "a: bad header")
    r.task_failed(claim(r), "a: still bad")
    queue_with(tmp_path, "b.tsv", "c.tsv", "d.tsv")
    r.task_done(claim(r))  # b
    dead = Owner(socket.gethostname(), dead_pid(), 1)
    os.rename(q / "c.tsv", q / wip_name("c.tsv", dead, 1))
    r.dispose()

    listed = persistq("status", "--files", "--json", str(q))
    assert listed.returncode == 0, listed.stderr
    files = {f["name"]: f for f in json.loads(listed.stdout)}
    assert {n: f["status"] for n, f in files.items()} == {
        "a.tsv": "failed",
        "b.tsv": "done",
        "c.tsv": "in_progress",
        "d.tsv": "pending",
    }
    assert [e["reason"] for e in files["a.tsv"]["errors"]] == ["a: bad header", "a: still bad"]
    assert files["a.tsv"]["attempts"] == 2
    assert files["c.tsv"]["owner_state"] == "dead" and files["c.tsv"]["owner"]
    assert files["d.tsv"]["size"] == len("data of d.tsv\n") and files["d.tsv"]["mtime"] > 0
    text = persistq("status", "--files", str(q)).stdout
    assert "attempt 2 failed" in text and "a: still bad" in text

    unknown = persistq("requeue", "--failed", str(q), "zzz.tsv")
    assert unknown.returncode == 2 and "zzz.tsv" in unknown.stderr
    back = persistq("requeue", "--failed", str(q), "a.tsv")
    assert back.returncode == 0, back.stderr
    assert "requeued 1 failed file(s); 0 left in failed/" in back.stdout
    assert (q / "a.tsv").exists()
    listed = persistq("status", "--files", "--json", str(q))
    files = {f["name"]: f for f in json.loads(listed.stdout)}
    assert files["a.tsv"]["status"] == "pending" and files["a.tsv"]["attempts"] == 0
    assert len(files["a.tsv"]["errors"]) == 2
