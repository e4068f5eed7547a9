"""durability="fsync": every put and task_done that returned survives a power cut."""

from __future__ import annotations

import random
import threading
from collections import Counter
from pathlib import Path

import pytest

from persistq import PersistentQueue
from persistq.journal import JournalWriter, read_records
from persistq.journal import storage as writer_module
from persistq.journal.writer import PAGE
from tests.powerloss import PowerLoss


def journal(directory: Path, kind: str) -> Counter[str]:
    found: Counter[str] = Counter()
    for path in directory.glob(f"jobs_{kind}_PID*.tsv"):
        found.update(r[0] for r in read_records(path))
    return found


def run_until_cut(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, durability: str, seed: int, threads: int = 1
) -> tuple[Counter[str], Counter[str], Path]:
    """Put and complete work from ``threads`` threads; cut power at a random moment
    after the first put returned (counted from then: a loaded machine may take longer
    than the shortest wait for its first fsync). Return what had returned (puts,
    task_dones) and the directory after the cut."""
    rng = random.Random(seed)
    run = tmp_path / "run"
    q = PersistentQueue("jobs", run, use_queue=False, durability=durability)  # type: ignore[arg-type]
    put: Counter[str] = Counter()
    done: Counter[str] = Counter()
    lock = threading.Lock()
    stop = threading.Event()
    first_put = threading.Event()

    def work(t: int) -> None:
        for i in range(10_000):
            if stop.is_set():
                return
            item = f"t{t}-{i}"
            q.put(item)
            with lock:
                put[item] += 1
            first_put.set()
            if i % 3:
                q.task_done(item)
                with lock:
                    done[item] += 1

    loss = PowerLoss(monkeypatch)
    pool = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for th in pool:
        th.start()
    assert first_put.wait(timeout=30), "no put returned within 30 s"
    threading.Event().wait(rng.uniform(0.02, 0.15))
    with lock:  # what had returned, read before the cut
        returned_put, returned_done = Counter(put), Counter(done)
    loss.cut(run, tmp_path / "after")
    stop.set()
    for th in pool:
        th.join(timeout=30)
    return returned_put, returned_done, tmp_path / "after"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("threads", [1, 8])
@pytest.mark.parametrize("seed", range(4))
def test_fsync_keeps_every_returned_operation(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, seed: int, threads: int
) -> None:
    returned_put, returned_done, after = run_until_cut(
        monkeypatch, tmp_path, "fsync", seed, threads
    )
    assert returned_put, "the cut came before any put returned"
    assert journal(after, "requested") >= returned_put
    assert journal(after, "completed") >= returned_done
    recovered = PersistentQueue("jobs", tmp_path / "next", after, use_queue=False)
    outstanding = Counter(recovered.get_list_of_outstanding_work())
    assert not outstanding & returned_done  # nothing completed comes back


@pytest.mark.timeout(60)
def test_flush_does_not_survive_a_power_cut(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The simulator has teeth: without fsync the journal does not outlive the cut.
    returned_put, _, after = run_until_cut(monkeypatch, tmp_path, "flush", seed=0)
    assert returned_put
    assert not journal(after, "requested") >= returned_put


def test_requeued_work_and_the_recovery_pointer_survive_a_power_cut(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    run1 = tmp_path / "run1"
    first = PersistentQueue("jobs", run1, use_queue=False, durability="fsync")
    for item in ["a", "b", "c"]:
        first.put(item)
    first.task_done("a")
    first.dispose()
    loss = PowerLoss(monkeypatch)
    second = PersistentQueue("jobs", tmp_path / "run2", run1, durability="fsync")
    assert second.requeue_unprocessed_work() == ["b", "c"]
    loss.cut(tmp_path / "run2", tmp_path / "run2-after")
    assert journal(tmp_path / "run2-after", "requested") == Counter(["b", "c"])
    third = PersistentQueue("jobs", tmp_path / "run3", tmp_path / "run2-after", durability="fsync")
    assert third.get_list_of_outstanding_work() == ["b", "c"]
    loss.cut(tmp_path / "run3", tmp_path / "run3-after")
    assert (tmp_path / "run3-after" / "jobs_recovering_from.json").exists()


@pytest.mark.parametrize("cut_at_sync", range(1, 6))
def test_a_cut_while_a_record_is_synced_leaves_no_hole(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, cut_at_sync: int
) -> None:
    # The worst a cut can do: every page written since the last sync reaches the disk
    # except the first, which would leave a hole before good records.
    loss = PowerLoss(monkeypatch, keep_unsynced_pages=lambda pages: pages[1:])
    run = tmp_path / "run"
    run.mkdir()
    writer = JournalWriter(run / "jobs_requested_PID1.tsv", "fsync")
    writer.append_many([[f"before-{i}"] for i in range(150)])  # ends inside a page
    recording_sync = writer_module.sync_data
    syncs = 0

    def cut_first(fd: int) -> None:
        nonlocal syncs
        syncs += 1
        if syncs == cut_at_sync:
            loss.cut(run, tmp_path / "after")
        recording_sync(fd)

    monkeypatch.setattr(writer_module, "sync_data", cut_first)
    writer.append(["big-" + "x" * (3 * PAGE)])
    writer.append(["after"])
    writer.close()
    assert syncs >= 5
    survived = read_records(tmp_path / "after" / "jobs_requested_PID1.tsv")
    assert survived[:150] == [(f"before-{i}",) for i in range(150)]
    assert len(survived) <= 152
