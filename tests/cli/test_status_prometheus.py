"""``persistq status --prometheus PATH...``: gauges of a folder queue, a pickup
directory and a schedule state directory, read back with prometheus-client's parser."""

from __future__ import annotations

import datetime as dt
import os
import socket
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from persistq.folder.names import Owner, wip_name
from persistq.folder.owner import current_owner
from tests.cli.helpers import dead_pid, persistq, write_journal

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        assert family.type == "gauge", family.name
        for s in family.samples:
            found[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return found


def folder_queue(root: Path) -> str:
    q = root / "q"
    q.mkdir()
    for name in ("a.tsv", "b.tsv"):
        (q / name).write_text("x\n")
    dead = Owner(socket.gethostname(), dead_pid(), 1)
    (q / wip_name("c.tsv", dead, 1)).write_text("x\n")
    (q / wip_name("d.tsv", current_owner(), 2)).write_text("x\n")
    (q / "failed").mkdir()
    (q / "failed" / "e.tsv").write_text("x\n")
    (q / "failed" / "e.tsv.reason.json").write_text("{}\n")
    (q / "done").mkdir()
    (q / "done" / "f.tsv").write_text("x\n")
    return str(q)


def pickup_dir(root: Path) -> str:
    pickup = root / "pickup"
    pickup.mkdir()
    records = [(f"item{i}",) for i in range(5)]
    write_journal(str(pickup), "items", "requested", dead_pid(), records)
    write_journal(str(pickup), "items", "completed", dead_pid(), records[:3])
    return str(pickup)


def state_dir(root: Path) -> str:
    path = root / "schedules.toml"
    path.write_text('queue = "triggers"\n[[schedule]]\nname = "tick"\ncron = "*/10 * * * *"\n')
    assert persistq("schedule", str(path), "--once", "--now", "2026-06-01T00:00Z").returncode == 0
    assert persistq("schedule", str(path), "--once", "--now", "2026-06-01T00:25Z").returncode == 0
    return str(root / "triggers" / ".persistq-schedule")


def test_gauges_of_every_kind_of_path_written_atomically(tmp_path: Path) -> None:
    q, pickup, state = folder_queue(tmp_path), pickup_dir(tmp_path), state_dir(tmp_path)
    out = tmp_path / "textfile"
    out.mkdir()
    target = out / "persistq.prom"
    target.write_text("old\n")
    done = persistq("status", "--prometheus", q, pickup, state, "--output", str(target))
    assert done.returncode == 0, done.stderr  # though every PATH is unhealthy
    assert done.stdout == ""
    assert os.listdir(out) == ["persistq.prom"]  # replaced, no temporary file left
    got = parse(target.read_text())

    def at(name: str, path: str, **labels: str) -> float:
        return got[(f"persistq_{name}", tuple(sorted({"path": path, **labels}.items())))]

    assert at("folder_files", q, state="pending") == 2
    assert at("folder_files", q, state="failed") == 1
    assert at("folder_files", q, state="done") == 1
    assert at("folder_in_progress_files", q, owner="alive") == 1
    assert at("folder_in_progress_files", q, owner="dead") == 1
    assert at("folder_in_progress_files", q, owner="remote") == 0
    assert 0 < at("folder_oldest_pending_age_seconds", q) < 60  # since it arrived (ctime)
    assert at("folder_producers", q, state="failed") == 0
    assert at("pickup_requested", pickup, prefix="items") == 5
    assert at("pickup_completed", pickup, prefix="items") == 3
    assert at("pickup_outstanding", pickup, prefix="items") == 2
    assert at("pickup_writers", pickup, prefix="items", state="dead") == 2
    assert at("pickup_stuck", pickup, prefix="items") == 1
    last = dt.datetime(2026, 6, 1, 0, 20, tzinfo=dt.UTC).timestamp()
    assert at("schedule_state_last_slot_timestamp_seconds", state, schedule="tick") == last
    assert at("schedule_state_next_slot_timestamp_seconds", state, schedule="tick") == last + 600
    assert at("schedule_state_overdue", state, schedule="tick") == 1  # no scheduler runs
    assert at("schedule_state_pending", state, schedule="tick") == 0
    for path, kind in ((q, "folder"), (pickup, "pickup"), (state, "schedules")):
        assert at("status_healthy", path, kind=kind) == 0
        assert at("status_problems", path, kind=kind) >= 1


def test_gauges_go_to_stdout_and_several_paths_need_prometheus(tmp_path: Path) -> None:
    state = state_dir(tmp_path)
    done = persistq("status", "--prometheus", state)
    assert done.returncode == 0, done.stderr
    assert (
        parse(done.stdout)[("persistq_status_healthy", (("kind", "schedules"), ("path", state)))]
        == 0
    )
    done = persistq("status", state, state)
    assert done.returncode == 2 and "need --prometheus" in done.stderr
    done = persistq("status", "--prometheus", state, str(tmp_path / "missing"))
    assert done.returncode == 2 and "missing: no such directory" in done.stderr
