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


def test_retry_delay_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="retry_delay"):
        ReadableFolderQueue(tmp_path, retry_delay=0)
