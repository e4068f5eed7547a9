"""Folder queues with durability="fsync": a power cut never loses a published file
and never resurrects a finished one."""

from __future__ import annotations

import os
import random
import threading
import time
from pathlib import Path

import pytest

from persistq import ReadableFolderQueue, WritableFolderQueue
from tests.powerloss import PowerLoss


@pytest.mark.timeout(60)
@pytest.mark.parametrize("seed", range(6))
def test_every_returned_put_and_task_done_survives(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, seed: int
) -> None:
    rng = random.Random(seed)
    source, queue, done = (tmp_path / d for d in ("source", "queue", "done"))
    source.mkdir()
    for i in range(400):
        (source / f"part_{i:04d}.tsv").write_text(f"rows of part {i}\n" * 10)
    writer = WritableFolderQueue(queue, durability="fsync")
    reader = ReadableFolderQueue(
        queue, task_done_directory=done, durability="fsync", poll_interval=0.01
    )
    loss = PowerLoss(monkeypatch)
    published: list[str] = []
    finished: list[str] = []
    stop = threading.Event()

    def produce() -> None:
        for path in sorted(source.iterdir()):
            if stop.is_set():
                return
            published.append(os.path.basename(writer.put(path)))

    def consume() -> None:
        while not stop.is_set():
            try:
                wip = reader.get(timeout=50)
            except Exception:  # queue.Empty: nothing yet
                continue
            assert isinstance(wip, str)
            reader.task_done(wip)
            finished.append(os.path.basename(reader.original_filename_from_wip(wip)))

    threads = [threading.Thread(target=produce), threading.Thread(target=consume)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 20
    while not published and time.monotonic() < deadline:
        time.sleep(0.001)
    threading.Event().wait(rng.uniform(0.0, 0.3))
    returned_puts, returned_done = list(published), list(finished)  # before the cut
    loss.cut_many({queue: tmp_path / "queue-after", done: tmp_path / "done-after"})
    stop.set()
    for t in threads:
        t.join(timeout=30)
    reader.dispose()

    assert returned_puts, "the cut came before any put returned"
    queued_after = os.listdir(tmp_path / "queue-after")
    done_after = set(os.listdir(tmp_path / "done-after"))
    for name in returned_done:
        assert name in done_after, f"{name}: finished, lost from done/ by the cut"
        assert not [q for q in queued_after if q.startswith(name)], f"{name} resurrected"
    for name in returned_puts:
        holders = [q for q in queued_after if q.startswith(name)] + (
            [name] if name in done_after else []
        )
        assert holders, f"{name}: published, lost by the cut"
        for holder in holders:
            where = tmp_path / ("done-after" if holder in done_after else "queue-after")
            number = int(name[5:9])
            assert (where / holder).read_text() == f"rows of part {number}\n" * 10


def test_without_fsync_a_power_cut_loses_published_files(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The simulator has teeth: with durability="flush" nothing is made durable.
    source, queue = tmp_path / "source", tmp_path / "queue"
    source.mkdir()
    writer = WritableFolderQueue(queue, durability="flush")
    loss = PowerLoss(monkeypatch)
    (source / "a.tsv").write_text("data")
    writer.put(source / "a.tsv")
    loss.cut(queue, tmp_path / "after")
    assert "a.tsv" not in os.listdir(tmp_path / "after")
