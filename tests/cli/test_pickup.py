"""``persistq status`` and ``persistq requeue`` on the pickup directory of a PersistentQueue."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from persistq import PersistentQueue
from persistq.cli import pickup_view
from persistq.journal.reader import read_records
from persistq.pickup import inspect
from persistq.pickup.layout import prefixes, split_journal_name
from tests.cli.helpers import dead_pid, persistq, write_journal


def test_journal_names_are_split_into_prefix_kind_and_pid() -> None:
    journal = split_journal_name("my_requested_PIDx_requested_PID12_requeued2.tsv")
    assert journal is not None
    prefix, parsed = journal
    assert prefix == "my_requested_PIDx"
    assert (parsed.kind, parsed.pid, parsed.requeued) == ("requested", 12, True)
    assert split_journal_name("items_requested_PID12.tsv.part") is None
    assert split_journal_name("notes.txt") is None
    assert prefixes(["b_completed_PID3.tsv", "a_requested_PID9.tsv", "c_recovering_from.json"]) == [
        "a",
        "b",
        "c",
    ]


def test_outstanding_work_without_a_live_writer_is_stuck(tmp_path: Path) -> None:
    write_journal(str(tmp_path), "p", "requested", dead_pid(), [("1",), ("2",), ("1",)])
    write_journal(str(tmp_path), "p", "completed", dead_pid(), [("1",)])
    report = inspect(tmp_path).prefix("p")
    assert (report.requested, report.completed, report.outstanding) == (3, 1, (b"2", b"1"))
    assert not pickup_view.status(str(tmp_path))["healthy"]
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        write_journal(str(tmp_path), "p", "completed", sleeper.pid, [])
        assert pickup_view.status(str(tmp_path))["healthy"]
    finally:
        sleeper.kill()
        sleeper.wait()


@pytest.fixture
def pickup(tmp_path: Path) -> str:
    producer, worker = dead_pid(), dead_pid()
    records = [(str(i), f"row\t{i}") for i in range(1, 6)]
    write_journal(str(tmp_path), "items", "requested", producer, records)
    write_journal(str(tmp_path), "items", "completed", worker, records[:3])
    write_journal(str(tmp_path), "other", "requested", producer, [("x",)])
    write_journal(str(tmp_path), "other", "completed", worker, [("x",)])
    return str(tmp_path)


@pytest.mark.timeout(30)
def test_status_of_a_killed_run_reports_outstanding_work_and_exits_1(pickup: str) -> None:
    result = persistq("status", pickup)
    assert result.returncode == 1, result.stderr
    assert "items   2         5          3          2            0 alive, 2 dead" in result.stdout
    assert "items: 2 outstanding and no writer alive" in result.stdout
    report = json.loads(persistq("status", "--json", pickup).stdout)
    assert not report["healthy"]
    counts = {
        p["prefix"]: (p["requested"], p["completed"], p["outstanding"]) for p in report["prefixes"]
    }
    assert counts == {"items": (5, 3, 2), "other": (1, 1, 0)}


@pytest.mark.timeout(30)
def test_status_of_a_finished_run_is_healthy(tmp_path: Path) -> None:
    write_journal(str(tmp_path), "items", "requested", dead_pid(), [("1",)])
    write_journal(str(tmp_path), "items", "completed", dead_pid(), [("1",)])
    result = persistq("status", str(tmp_path))
    assert result.returncode == 0, result.stdout
    assert "healthy" in result.stdout


@pytest.mark.timeout(30)
def test_requeue_prints_and_writes_the_outstanding_records(pickup: str, tmp_path: Path) -> None:
    result = persistq("requeue", "--prefix", "items", pickup)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "4\trow\\t4\n5\trow\\t5\n"
    assert "items: 5 requested, 3 completed, 2 outstanding" in result.stderr
    out = tmp_path / "out" / "items_requested_PID1.tsv"
    out.parent.mkdir()
    assert persistq("requeue", "--prefix", "items", "--output", str(out), pickup).returncode == 0
    assert read_records(out) == [("4", "row\t4"), ("5", "row\t5")]
    again = persistq("requeue", "--prefix", "items", "--output", str(out), pickup)
    assert again.returncode == 2
    assert again.stderr.strip().endswith(f"{out}: already exists; not overwriting it")


@pytest.mark.timeout(30)
def test_user_errors_are_one_line_naming_the_value(pickup: str, tmp_path: Path) -> None:
    missing = persistq("status", str(tmp_path / "nope"))
    assert (missing.returncode, missing.stderr.count("\n")) == (2, 1)
    assert "nope: no such directory" in missing.stderr
    both = persistq("requeue", "--output", str(tmp_path / "o.tsv"), pickup)
    assert both.returncode == 2
    assert "holds prefixes items, other; choose one with --prefix" in both.stderr
    unknown = persistq("requeue", "--prefix", "nope", pickup)
    assert "no journals with prefix 'nope' (prefixes: items, other)" in unknown.stderr


@pytest.mark.timeout(30)
def test_a_corrupt_journal_is_named(pickup: str) -> None:
    path = os.path.join(pickup, "items_completed_PID1.tsv")
    write_journal(pickup, "items", "completed", 1, [("4", "row\t4"), ("5", "row\t5")])
    with open(path, "r+b") as f:
        f.seek(-2, os.SEEK_END)
        f.write(b"X")  # the last record's checksum no longer matches
    result = persistq("requeue", "--prefix", "items", pickup)
    assert result.returncode == 2
    assert f"{path}: corrupt journal record on line 3" in result.stderr
    skipped = persistq("requeue", "--prefix", "items", "--skip-corrupt", pickup)
    assert (skipped.returncode, skipped.stdout) == (0, "5\trow\\t5\n")
    assert "skipped: " in skipped.stderr
    status = persistq("status", pickup)
    assert status.returncode == 1
    assert "corrupt journal record on line 3" in status.stdout


def crashed_run(directory: Path, n: int = 6, done: int = 2) -> list[str]:
    """A run killed after completing ``done`` of its ``n`` items; returns what is left."""
    directory.mkdir()
    items = [(f"item{i}",) for i in range(n)]
    write_journal(str(directory), "items", "requested", dead_pid(), items)
    write_journal(str(directory), "items", "completed", dead_pid(), items[:done])
    return [f[0] for f in items[done:]]


@pytest.mark.timeout(30)
def test_status_of_a_run_that_died_while_recovering_reports_the_inherited_work(
    tmp_path: Path,
) -> None:
    left = crashed_run(tmp_path / "run1")
    run2 = tmp_path / "run2"
    run2.mkdir()  # run 2 wrote its pointer, then died before journalling the requeued work
    (run2 / "items_recovering_from.json").write_text(
        json.dumps({"previous_pickup_dir": str(tmp_path / "run1")})
    )
    result = persistq("status", str(run2))
    assert result.returncode == 1, result.stdout
    assert result.stdout.startswith(f"pickup directory {run2}")
    assert "items: 4 outstanding and no writer alive" in result.stdout
    assert f"died while recovering {tmp_path / 'run1'}" in result.stdout
    requeue = persistq("requeue", "--prefix", "items", str(run2))
    assert requeue.stdout.splitlines() == left


@pytest.mark.timeout(30)
def test_status_of_a_crashed_run_that_a_later_run_recovered_is_healthy(tmp_path: Path) -> None:
    crashed_run(tmp_path / "run1")
    assert persistq("status", str(tmp_path / "run1")).returncode == 1  # really outstanding
    q = PersistentQueue("items", tmp_path / "run2", tmp_path / "run1", use_queue=False)
    q.requeue_unprocessed_work()
    q.mark_all_work_done()
    result = persistq("status", str(tmp_path / "run1"))
    assert result.returncode == 0, result.stdout
    assert f"recovered by {tmp_path / 'run2'}, which took its work" in result.stdout
    assert persistq("status", str(tmp_path / "run2")).returncode == 0


def test_recovery_pointers_in_a_cycle_count_each_run_once(tmp_path: Path) -> None:
    for me, other in (("a", "b"), ("b", "a")):
        (tmp_path / me).mkdir()
        write_journal(str(tmp_path / me), "items", "requested", dead_pid(), [(f"{me}1",)])
        pointer = {"previous_pickup_dir": str(tmp_path / other)}
        (tmp_path / me / "items_recovering_from.json").write_text(json.dumps(pointer))
    assert inspect(tmp_path / "a").prefix("items").outstanding == (b"b1", b"a1")
