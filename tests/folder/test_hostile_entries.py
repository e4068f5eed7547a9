"""Odd entries and careless callers do not hang or crash readers (issue 10 #13, #14,
#16, #17, #19)."""

from __future__ import annotations

import errno
import logging
import os
import threading
from pathlib import Path
from queue import Empty

import pytest

from persistq import DONE, ReadableFolderQueue, WritableFolderQueue
from persistq.folder import inotify, waking

pytestmark = pytest.mark.timeout(60)


def make(folder: Path, name: str, data: str = "x") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(data)
    return path


def test_a_fifo_named_like_a_marker_does_not_block_get(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    qdir = tmp_path / "q"
    w = WritableFolderQueue(qdir)
    os.mkfifo(qdir / "trap.done")
    make(qdir, "a.tsv")
    w.close()
    r = ReadableFolderQueue(qdir)
    with caplog.at_level(logging.WARNING, logger="persistq"):
        got = r.get(timeout=5000)
        assert isinstance(got, str)
        r.task_done(got)
        assert r.get(timeout=5000) is DONE
    assert "trap.done" in caplog.text


def test_a_directory_named_like_a_marker_is_ignored(tmp_path: Path) -> None:
    qdir = tmp_path / "q"
    w = WritableFolderQueue(qdir)
    (qdir / "x.helo").mkdir()
    w.close()
    assert ReadableFolderQueue(qdir).get(timeout=5000) is DONE


def test_a_marker_symlinked_from_outside_is_not_trusted(tmp_path: Path) -> None:
    qdir, elsewhere = tmp_path / "q", tmp_path / "elsewhere"
    w = WritableFolderQueue(qdir)
    make(qdir, "a.tsv")
    elsewhere.mkdir()
    failed = next(n for n in os.listdir(qdir) if n.endswith(".helo")).replace(".helo", ".failed")
    (elsewhere / failed).write_text("{}")
    os.symlink(elsewhere / failed, qdir / failed)
    r = ReadableFolderQueue(qdir)
    got = r.get(timeout=5000)  # the symlinked failed marker does not fail the queue
    assert isinstance(got, str)
    w.close()


def test_out_of_inotify_instances_readers_poll(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def no_instances() -> None:
        raise OSError(errno.EMFILE, "inotify_init: too many open files")

    def no_inotify(self: inotify.Inotify, folder: str) -> None:
        raise OSError(errno.EMFILE, "inotify_init1: too many open files", folder)

    monkeypatch.setattr(waking, "Observer", no_instances)
    monkeypatch.setattr(inotify.Inotify, "__init__", no_inotify)
    qdir = tmp_path / "q"
    w = WritableFolderQueue(qdir)
    r = ReadableFolderQueue(qdir)
    with caplog.at_level(logging.WARNING, logger="persistq"), pytest.raises(Empty):
        r.get(timeout=50)
    assert "polling instead" in caplog.text
    make(qdir, "a.tsv")
    assert isinstance(r.get(timeout=5000), str)
    w.close()
    r.dispose()


def test_readers_never_disposed_release_their_watches(tmp_path: Path) -> None:
    qdir = tmp_path / "q"
    w = WritableFolderQueue(qdir)
    before = threading.active_count(), open_fds()
    for _ in range(200):
        r = ReadableFolderQueue(qdir)
        with pytest.raises(Empty):
            r.get(timeout=0)  # starts watching
        del r  # never disposed: the garbage collector frees its watch
    assert threading.active_count() <= before[0] + 8
    assert open_fds() <= before[1] + 8
    w.close()
    for _ in range(100):
        r = ReadableFolderQueue(qdir)
        assert r.get(timeout=5000) is DONE  # DONE releases the watch at once
    assert threading.active_count() <= before[0] + 8
    assert open_fds() <= before[1] + 8


def open_fds() -> int:
    """How many file descriptors this process has open (Linux), or 0 where unknown."""
    return len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else 0


def test_a_dropped_in_retry0_file_is_refused_clearly_and_never_stranded(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    qdir = tmp_path / "q"
    w = WritableFolderQueue(qdir)
    make(qdir, "x.retry0.tsv")
    make(qdir, "y.retry1.tsv")
    w.close()
    r = ReadableFolderQueue(qdir, task_done_directory=tmp_path / "done")
    with caplog.at_level(logging.WARNING, logger="persistq"):
        got = r.get(timeout=5000)
        assert isinstance(got, str)
        assert r.task_done(got) == str(tmp_path / "done" / "y.tsv")
        assert r.get(timeout=5000) is DONE
    assert "x.retry0.tsv" in caplog.text
    assert (qdir / "x.retry0.tsv").exists()  # left alone, not claimed


def test_a_sorting_function_failing_on_one_file_sorts_it_last(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    qdir = tmp_path / "q"
    w = WritableFolderQueue(qdir)
    for name in ["3.tsv", "bad.tsv", "1.tsv", "2.tsv"]:
        make(qdir, name)
    w.close()
    r = ReadableFolderQueue(qdir, sorting_function=lambda name: int(name.removesuffix(".tsv")))
    order = []
    with caplog.at_level(logging.WARNING, logger="persistq"):
        for wip in r:
            order.append(os.path.basename(r.original_filename_from_wip(wip)))
            r.task_done(wip)
    assert order == ["1.tsv", "2.tsv", "3.tsv", "bad.tsv"]
    assert caplog.text.count("sorting_function failed") == 1


@pytest.mark.parametrize("when", ["listed", "announced"])
def test_only_regular_files_named_like_messages_are_claimed(tmp_path: Path, when: str) -> None:
    # A symlink (to a file outside), a directory and a FIFO named like messages are
    # never handed out, whether a listing finds them or an event announces them (no
    # listing then filters them: the claim itself must refuse them).
    qdir, outside = tmp_path / "q", make(tmp_path / "elsewhere", "secret.tsv", "secret")
    w = WritableFolderQueue(qdir)
    r = ReadableFolderQueue(qdir)
    if when == "announced":
        with pytest.raises(Empty):
            r.get(timeout=50)  # listed the empty folder; now waits on events
    os.symlink(outside, qdir / "link.tsv")
    os.mkdir(qdir / "dir.tsv")
    os.mkfifo(qdir / "fifo.tsv")
    make(qdir, "real.tsv", "real")
    w.close()
    got = r.get(timeout=5000)
    assert isinstance(got, str) and Path(got).read_text() == "real"
    r.task_done(got)
    assert r.get(timeout=5000) is DONE
    assert sorted(n for n in os.listdir(qdir) if n.endswith(".tsv")) == [
        "dir.tsv",
        "fifo.tsv",
        "link.tsv",
    ]
    assert os.path.islink(qdir / "link.tsv") and outside.read_text() == "secret"
