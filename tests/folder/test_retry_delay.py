"""Retries can wait without holding up other files; the attempt number is public; a
restarted reader says which claims it took back; readers are context managers (issue 12)."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path
from queue import Empty

import pytest

from persistq import ReadableFolderQueue, WritableFolderQueue
from persistq.folder.names import Owner, wip_name
from persistq.folder.owner import current_owner
from persistq.processes import process_start

pytestmark = pytest.mark.timeout(30)


def make(folder: Path, name: str) -> Path:
    path = folder / name
    path.write_text(name)
    return path


def test_a_failed_file_waits_for_its_retry_while_others_go_ahead(tmp_path: Path) -> None:
    qdir = tmp_path / "q"
    w = WritableFolderQueue(qdir)
    make(qdir, "a.tsv")
    r = ReadableFolderQueue(qdir, max_attempts=3, retry_delay=1.0)
    first = r.get(timeout=5000)
    assert isinstance(first, str)
    assert r.attempt_from_wip(first) == 1
    r.task_failed(first, "database down")
    make(qdir, "b.tsv")
    healthy = r.get(timeout=5000)  # not held up behind a.tsv's retry
    assert isinstance(healthy, str)
    assert r.original_filename_from_wip(healthy).endswith("b.tsv")
    r.task_done(healthy)
    with pytest.raises(Empty):
        r.get(timeout=200)  # a.retry2.tsv is not due yet
    assert (qdir / "a.retry2.tsv").exists()
    again = r.get(timeout=5000)
    assert isinstance(again, str)
    assert r.attempt_from_wip(again) == 2
    assert r.original_filename_from_wip(again).endswith("a.tsv")
    r.task_done(again)
    w.close()
    r.dispose()


def test_a_restarted_reader_logs_each_claim_it_takes_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    qdir = tmp_path / "q"
    qdir.mkdir()
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    start = process_start(child.pid)
    child.wait()
    dead = Owner(current_owner().host, child.pid, start or 0)
    (qdir / wip_name("x.tsv", dead, 1)).write_text("x")
    with caplog.at_level(logging.INFO, logger="persistq"), ReadableFolderQueue(qdir) as r:
        got = r.get(timeout=5000)
        assert isinstance(got, str)
    assert f"PID {child.pid}" in caplog.text
    assert "took back" in caplog.text
    assert r._process is None  # the with block disposed of it


def test_max_retry_delay_caps_the_doubling(tmp_path: Path) -> None:
    qdir = tmp_path / "q"
    w = WritableFolderQueue(qdir)
    make(qdir, "a.tsv")
    # Without the cap the 4th attempt would wait 60 * 4 s: the test would time out.
    with ReadableFolderQueue(qdir, max_attempts=4, retry_delay=60.0, max_retry_delay=0.2) as r:
        for attempt in (1, 2, 3):
            wip = r.get(timeout=5000)
            assert isinstance(wip, str) and r.attempt_from_wip(wip) == attempt
            r.task_failed(wip, f"failed {attempt}")
            if attempt < 3:
                assert r.held_back() == 0  # not seen yet: the next get finds it
        last = r.get(timeout=5000)
        assert isinstance(last, str) and r.attempt_from_wip(last) == 4
        r.task_done(last)
    w.close()


def test_a_reader_says_how_many_files_it_holds_back(tmp_path: Path) -> None:
    qdir = tmp_path / "q"
    w = WritableFolderQueue(qdir)
    make(qdir, "a.tsv")
    with ReadableFolderQueue(qdir, max_attempts=2, retry_delay=30.0) as r:
        assert r.held_back() == 0
        wip = r.get(timeout=5000)
        assert isinstance(wip, str)
        r.task_failed(wip, "down")
        with pytest.raises(Empty):
            r.get(timeout=100)
        assert r.held_back() == 1  # a.retry2.tsv, due in 30 s
    w.close()


def test_retry_delay_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="retry_delay"):
        ReadableFolderQueue(tmp_path, retry_delay=0)
    with pytest.raises(ValueError, match="max_retry_delay"):
        ReadableFolderQueue(tmp_path, retry_delay=1, max_retry_delay=-1)
