"""DONE is decided from a listing that began after every producer was known closed
(issue 10 #3): one pass over a directory can miss a file renamed in during the pass and
yet see the done marker written after it."""

from __future__ import annotations

import os
import random
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from persistq import DONE, ReadableFolderQueue, WritableFolderQueue
from persistq.folder.names import Kind, classify
from persistq.folder.ordering import OrderedIndex
from persistq.folder.view import FolderView
from persistq.folder.waking import Watcher

pytestmark = pytest.mark.timeout(60)


def test_a_file_a_listing_passed_over_is_not_lost_to_the_done_it_saw(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    qdir, staging = tmp_path / "q", tmp_path / "staging"
    staging.mkdir()
    for i in range(200):
        (tmp_path / "q").mkdir(exist_ok=True)
        (qdir / f"other{i:03d}.txt").write_text("")
    w = WritableFolderQueue(qdir)
    r = ReadableFolderQueue(qdir, poll_interval=0.01)
    real_scandir = os.scandir
    raced = threading.Event()

    def racing_scandir(path: Any) -> Iterator[os.DirEntry[str]]:
        if os.fspath(path) != str(qdir) or raced.is_set():
            yield from real_scandir(path)
            return
        raced.set()
        entries = list(real_scandir(path))
        yield from entries[:100]
        # Mid-pass the producer puts its last file, behind the cursor, then closes.
        (staging / "last.tsv").write_text("x")
        w.put(staging / "last.tsv")
        w.close()
        seen = {e.name for e in entries[:100]}
        yield from (e for e in real_scandir(path) if e.name not in seen | {"last.tsv"})

    monkeypatch.setattr(os, "scandir", racing_scandir)
    first = r.get(timeout=5000)
    assert raced.is_set()
    assert first is not DONE, "DONE with last.tsv still queued"
    assert isinstance(first, str)
    assert r.original_filename_from_wip(first).endswith("last.tsv")
    r.task_done(first)
    assert r.get(timeout=5000) is DONE
    r.dispose()


@pytest.mark.parametrize("mode", [{"poll_interval": 0.001}, {}], ids=["polling", "events"])
def test_last_put_then_close_while_a_reader_lists_a_big_folder(
    tmp_path: Path, mode: dict[str, Any]
) -> None:
    qdir, staging = tmp_path / "q", tmp_path / "staging"
    qdir.mkdir()
    staging.mkdir()
    for i in range(20_000):
        (qdir / f"o{i:05d}.txt").touch()
    rng = random.Random(7)
    for trial in range(8):
        for name in os.listdir(qdir):
            if classify(name, ".tsv") is Kind.MARKER:
                os.unlink(qdir / name)
        w = WritableFolderQueue(qdir)
        r = ReadableFolderQueue(qdir, **mode)
        source = staging / f"m{trial}.tsv"
        source.write_text("x")

        def produce(w: WritableFolderQueue = w, source: Path = source) -> None:
            threading.Event().wait(rng.uniform(0, 0.02))
            w.put(source)
            w.close()

        producer = threading.Thread(target=produce)
        producer.start()
        got = r.get(timeout=20_000)
        producer.join()
        assert got is not DONE, f"trial {trial}: DONE with {source.name} still queued"
        assert isinstance(got, str)
        r.task_done(got)
        assert r.get(timeout=20_000) is DONE
        r.dispose()


class _ScriptedWatcher(Watcher):
    """A watcher whose events are scripted: each take() returns the next batch."""

    def __init__(self, batches: list[list[tuple[str, bool]]]) -> None:  # no observer
        self.batches = batches

    @property
    def healthy(self) -> bool:
        return True

    @property
    def paused(self) -> bool:
        return False

    def take(self) -> list[tuple[str, bool]]:
        return self.batches.pop(0) if self.batches else []

    def stop(self) -> None:
        pass


def test_a_listing_keeps_the_names_events_announced_while_it_ran(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a.tsv").write_text("a")
    watcher = _ScriptedWatcher([[], [("late.tsv", True)]])  # before, then during the listing
    view = FolderView(
        str(tmp_path), ".tsv", OrderedIndex(str), watcher, None, lambda n: None, lambda n: True
    )
    real_scandir = os.scandir

    def late_arrival(path: Any) -> Iterator[os.DirEntry[str]]:
        entries = list(real_scandir(path))
        (tmp_path / "late.tsv").write_text("late")  # behind the cursor: not listed
        yield from entries

    monkeypatch.setattr(os, "scandir", late_arrival)
    view.scan(count_missed=False)
    assert "a.tsv" in view.index
    assert "late.tsv" in view.index
