"""``persistq status/requeue/reset/purge`` on a folder queue, as subprocesses."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

from persistq.cli.common import CliError
from persistq.cli.folder import Entry, infer_extension
from persistq.cli.status import folder_report
from persistq.folder import WritableFolderQueue
from persistq.folder.names import Owner, wip_name
from persistq.folder.owner import current_owner
from tests.cli.helpers import dead_pid, persistq


def test_infer_extension() -> None:
    assert infer_extension(["a.tsv", "b.retry2.tsv", "p.helo", ".x.pqtmp"]) == ".tsv"
    assert infer_extension([wip_name("a.csv", Owner("h", 1, 2), 1)]) == ".csv"
    assert infer_extension(["p.done"]) is None
    with pytest.raises(CliError, match=r"extensions \.csv, \.tsv"):
        infer_extension(["a.tsv", "b.csv"])


def test_folder_report_is_unhealthy_on_dead_owners_and_failed_markers() -> None:
    dead, live = Owner("h", 5, 1), Owner("h", 6, 1)
    entries = [
        Entry("a.tsv", 90.0),
        Entry("b.retry2.tsv", 50.0),
        Entry(wip_name("c.tsv", live, 1), 80.0),
        Entry("p1.helo", 0.0),
        Entry("p1.done", 0.0),
    ]
    states = {dead: "dead", live: "alive"}
    report = folder_report("/q", entries, ".tsv", 100.0, states.__getitem__, [Entry("x", 0)], [])
    assert report["healthy"]
    assert (report["pending"], report["pending_retries"], report["oldest_pending_seconds"]) == (
        2,
        1,
        50.0,
    )
    assert report["in_progress"] == [
        {"host": "h", "pid": 6, "state": "alive", "files": ["c.tsv"], "age_seconds": 20.0}
    ]
    assert report["producers"] == [{"producer": "p1", "state": "done", "markers": ["done", "helo"]}]
    stuck = folder_report(
        "/q",
        [*entries, Entry(wip_name("d.tsv", dead, 1), 0.0), Entry("p2.failed", 0.0)],
        ".tsv",
        100.0,
        states.__getitem__,
        [],
        [],
    )
    assert not stuck["healthy"] and len(stuck["problems"]) == 2


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    q = tmp_path / "q"
    q.mkdir()
    for name in ("a.tsv", "b.tsv"):
        (q / name).write_text("x\n")
    dead = Owner(socket.gethostname(), dead_pid(), 1)
    (q / wip_name("c.tsv", dead, 1)).write_text("x\n")
    me = current_owner()  # the test process: alive
    (q / wip_name("d.tsv", me, 2)).write_text("x\n")
    (q / "failed").mkdir()
    (q / "failed" / "e.tsv").write_text("x\n")
    (q / "failed" / "e.tsv.reason.json").write_text("{}\n")
    return q


def only_failed_files_left(folder: Path) -> bool:
    """Whether ``status`` finds nothing wrong but the file in failed/ (exit 1 for it)."""
    status = persistq("status", "--json", str(folder))
    problems = json.loads(status.stdout)["problems"]
    return status.returncode == 1 and len(problems) == 1 and "in failed/" in problems[0]


@pytest.mark.timeout(30)
def test_status_requeue_reset_purge_of_a_folder_queue(folder: Path) -> None:
    status = persistq("status", str(folder))
    assert status.returncode == 1, status.stderr
    assert "claimed by dead process" in status.stdout
    report = json.loads(persistq("status", "--json", str(folder)).stdout)
    assert report["pending"] == 2 and report["failed"] == ["e.tsv"]
    assert sorted(c["state"] for c in report["in_progress"]) == ["alive", "dead"]

    requeue = persistq("requeue", str(folder))
    assert requeue.returncode == 0, requeue.stderr
    assert "took back 1 file(s); 1 still claimed" in requeue.stdout
    assert (folder / "c.tsv").exists()
    assert only_failed_files_left(folder)

    refused = persistq("requeue", "--all", str(folder))
    assert refused.returncode == 2 and "pass --yes" in refused.stderr
    assert persistq("requeue", "--all", "--yes", str(folder)).returncode == 0
    assert (folder / "d.retry2.tsv").exists()

    WritableFolderQueue(str(folder)).fail()
    assert "failed (marker" in persistq("status", str(folder)).stdout
    reset = persistq("reset", "--yes", str(folder))
    assert reset.returncode == 0, reset.stderr
    assert not [n for n in os.listdir(folder) if n.endswith((".helo", ".failed"))]
    assert only_failed_files_left(folder)

    assert persistq("purge", str(folder)).returncode == 2  # no terminal, no --yes
    assert persistq("purge", "--yes", str(folder)).returncode == 0
    assert sorted(os.listdir(folder)) == ["failed"]
