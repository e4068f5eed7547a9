"""The reader's ordered index: names come out in sort order, each once, whether a
listing added them in bulk (one sorted run) or events added them one by one (a heap),
and whatever mix of both, discards and replacements came between (no folder); and a
reader that claims again without asking its schedule still keeps that order."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from persistq import ReadableFolderQueue, WritableFolderQueue
from persistq.folder.ordering import BULK_ADD, OrderedIndex


def drain(index: OrderedIndex) -> list[str]:
    names = []
    while (batch := index.pop_batch()) is not None:
        names += batch
    return names


def test_a_bulk_listing_and_later_events_pop_in_one_order() -> None:
    index = OrderedIndex(str)
    listed = [f"m{i:05d}.tsv" for i in range(3 * BULK_ADD)]
    assert sorted(index.replace(reversed(listed))) == listed
    assert index.pop_batch() == ["m00000.tsv"]
    index.add("m00000.tsv")  # given back: first again
    index.add("a.tsv")  # an event: sorts before every listed name
    index.add("m00001x.tsv")  # between the 2nd and 3rd listed names
    assert drain(index)[:4] == ["a.tsv", "m00000.tsv", "m00001.tsv", "m00001x.tsv"]
    assert len(index) == 0 and not index.ready()


def test_any_mix_of_operations_matches_a_sorted_set() -> None:
    rng = random.Random(11)
    index = OrderedIndex(lambda name: (len(name), name))
    model: set[str] = set()
    for _ in range(300):
        op = rng.random()
        if op < 0.05:  # a listing: the truth, often many new names at once
            wanted = {f"f{rng.randrange(400)}" for _ in range(rng.choice((3, 200)))}
            assert sorted(index.replace(wanted)) == sorted(wanted - model)
            model = wanted
        elif op < 0.45:
            name = f"f{rng.randrange(400)}"
            assert index.add(name) == (name not in model)
            model.add(name)
        elif op < 0.6:
            name = f"f{rng.randrange(400)}"
            index.discard(name)
            model.discard(name)
        else:
            first = min(model, key=lambda name: (len(name), name), default=None)
            assert index.pop_batch() == (None if first is None else [first])
            model.discard(first or "")
        assert len(index) == len(model)
        assert all(name in index for name in model)
    assert drain(index) == sorted(model, key=lambda name: (len(name), name))


@pytest.mark.timeout(30)
def test_a_name_announced_between_claims_is_claimed_in_its_order(tmp_path: Path) -> None:
    # A reader claiming again without asking the schedule still takes the events that
    # arrived first: a file that sorts before the rest is handed out next.
    qdir = tmp_path / "q"
    w = WritableFolderQueue(qdir)
    for name in ("b1.tsv", "b2.tsv", "b3.tsv"):
        (qdir / name).write_text(name)
    r = ReadableFolderQueue(qdir)
    first = r.get(timeout=5000)
    assert isinstance(first, str) and Path(first).read_text() == "b1.tsv"
    r.task_done(first)
    view = r._process.view if r._process is not None else None
    assert view is not None and view.watcher is not None
    watcher = view.watcher
    time.sleep(0.2)
    view.take_events(time.monotonic())  # the claim's own rename: an event already
    (qdir / "a.tsv").write_text("a.tsv")
    deadline = time.monotonic() + 10
    while not watcher.pending and time.monotonic() < deadline:
        time.sleep(0.01)  # the event is on its way from the observer thread
    got = r.get(timeout=5000)
    assert isinstance(got, str) and Path(got).read_text() == "a.tsv"
    w.close()
    r.dispose()
