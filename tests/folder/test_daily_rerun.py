"""Yesterday's markers do not end today's run (issue 10 #5): markers belong to a run,
and a reader started before today's producer waits for it."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from queue import Empty

import pytest

from persistq import DONE, ReadableFolderQueue, WritableFolderQueue
from persistq.folder.names import Kind, classify

pytestmark = pytest.mark.timeout(30)


def run_day(qdir: Path, staging: Path, name: str) -> None:
    w = WritableFolderQueue(qdir)
    source = staging / name
    source.write_text(name)
    w.put(source)
    w.close()


def age_markers(qdir: Path, seconds: float) -> None:
    then = time.time() - seconds
    for name in os.listdir(qdir):
        if classify(name, ".tsv") is Kind.MARKER:
            os.utime(qdir / name, (then, then))


def test_a_reader_started_before_todays_producer_waits_for_it(tmp_path: Path) -> None:
    qdir, staging = tmp_path / "q", tmp_path / "staging"
    staging.mkdir()
    run_day(qdir, staging, "day1.tsv")
    with ReadableFolderQueue(qdir) as r:
        for wip in r:
            r.task_done(wip)
    age_markers(qdir, 86_400)  # day 1 ended cleanly: its helo and done stay

    reader = ReadableFolderQueue(qdir)
    with pytest.raises(Empty):
        reader.get(timeout=300)  # not DONE: yesterday's run is over, today's not begun
    producer = threading.Timer(0.5, run_day, args=(qdir, staging, "day2.tsv"))
    producer.start()
    got = reader.get(timeout=10_000)
    producer.join()
    assert isinstance(got, str), got
    assert reader.original_filename_from_wip(got).endswith("day2.tsv")
    reader.task_done(got)
    assert reader.get(timeout=10_000) is DONE
    reader.dispose()


def test_a_reader_of_a_run_that_just_ended_gets_done(tmp_path: Path) -> None:
    qdir, staging = tmp_path / "q", tmp_path / "staging"
    staging.mkdir()
    run_day(qdir, staging, "a.tsv")
    with ReadableFolderQueue(qdir) as first:
        for wip in first:
            first.task_done(wip)
    with ReadableFolderQueue(qdir) as late:  # a second consumer, a moment late
        assert late.get(timeout=10_000) is DONE


def test_leftovers_of_an_earlier_run_are_still_processed(tmp_path: Path) -> None:
    qdir, staging = tmp_path / "q", tmp_path / "staging"
    staging.mkdir()
    run_day(qdir, staging, "left.tsv")
    age_markers(qdir, 86_400)
    with ReadableFolderQueue(qdir) as r:
        assert [os.path.basename(r.original_filename_from_wip(w)) for w in r] == ["left.tsv"]
