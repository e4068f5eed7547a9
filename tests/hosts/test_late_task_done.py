"""What a consumer that was paused past its lease (SIGSTOP, a VM frozen, a long GC) can
and cannot do once it runs again: its claim may have been taken back by a reader on
another host. A claim is a file name of its own, so taking it back renames the file
away; the paused consumer's ``task_done`` (or ``task_failed``) then finds nothing and
raises FileNotFoundError naming its wip file. It never completes, moves or deletes
the message, which belongs to the reader that took it back. Its work on the message
is done twice (at least once, as after a crash): the error is how it learns."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from persistq import ReadableFolderQueue

pytestmark = pytest.mark.timeout(30)


def taken_back(tmp_path: Path) -> tuple[ReadableFolderQueue, str, Path]:
    """A reader holding a claim that another host's reader has taken back."""
    qdir, done = tmp_path / "q", tmp_path / "done"
    qdir.mkdir()
    (qdir / "x.tsv").write_text("x")
    reader = ReadableFolderQueue(qdir, task_done_directory=done, lease_seconds=1)
    wip = reader.get(timeout=5000)
    assert isinstance(wip, str)
    os.rename(wip, qdir / "x.tsv")  # the other host's take-back: one rename
    return reader, wip, done


def test_a_late_task_done_is_refused(tmp_path: Path) -> None:
    reader, wip, done = taken_back(tmp_path)
    with pytest.raises(FileNotFoundError, match="x.tsv@"):
        reader.task_done(wip)
    assert os.listdir(done) == []
    assert (tmp_path / "q" / "x.tsv").read_text() == "x"  # still there for the next owner


def test_a_late_task_failed_is_refused(tmp_path: Path) -> None:
    reader, wip, _ = taken_back(tmp_path)
    with pytest.raises(FileNotFoundError):
        reader.task_failed(wip, "too late")
    assert (tmp_path / "q" / "x.tsv").read_text() == "x"
    failed = tmp_path / "q" / "failed"
    assert not failed.exists() or os.listdir(failed) == []
