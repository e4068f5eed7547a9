"""What put and the finishing of claims refuse or promise (issue 10 #2, #11, #15; issue 11:
one give-back; issue 12: a writer is a context manager)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from persistq import FAILED, ReadableFolderQueue, WritableFolderQueue
from persistq.folder import files
from persistq.folder.names import NAME_MAX, Kind, classify

pytestmark = pytest.mark.timeout(30)


def entries(folder: Path) -> list[str]:
    return sorted(os.listdir(folder))


def test_put_of_a_symlink_is_refused_and_leaves_link_and_file(tmp_path: Path) -> None:
    data = tmp_path / "data.tsv"
    data.write_text("rows")
    link_dir = tmp_path / "links"
    link_dir.mkdir()
    link = link_dir / "a.tsv"
    link.symlink_to(data)
    w = WritableFolderQueue(tmp_path / "q")
    with pytest.raises(ValueError, match=r"a\.tsv.*symbolic link.*copy=True"):
        w.put(link)
    assert link.is_symlink() and data.read_text() == "rows"
    assert [n for n in entries(tmp_path / "q") if classify(n, ".tsv") is Kind.MESSAGE] == []
    copied = Path(w.put(link, copy=True))
    assert copied.read_text() == "rows" and not copied.is_symlink()
    assert link.is_symlink()


def test_put_of_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.tsv"
    os.mkfifo(fifo)
    w = WritableFolderQueue(tmp_path / "q")
    for copy in (False, True):
        with pytest.raises(ValueError, match=r"pipe\.tsv.*not a regular file"):
            w.put(fifo, copy=copy)
    assert fifo.exists()


def test_task_done_directory_equal_to_the_queue_folder_is_refused(tmp_path: Path) -> None:
    q = tmp_path / "q"
    q.mkdir()
    (tmp_path / "alias").symlink_to(q)
    for done in (q, tmp_path / "alias", tmp_path / "q" / ".." / "q"):
        with pytest.raises(ValueError, match="task_done_directory.*queue folder itself"):
            ReadableFolderQueue(q, task_done_directory=done)
        with pytest.raises(ValueError, match="task_done_directory"):
            WritableFolderQueue(q, task_done_directory=done)
    ReadableFolderQueue(q, task_done_directory=q / "done").dispose()


def test_a_name_too_long_for_its_claim_is_refused_at_put(tmp_path: Path) -> None:
    w = WritableFolderQueue(tmp_path / "q")
    long = tmp_path / ("x" * 220 + ".tsv")
    long.write_text("rows")
    with pytest.raises(ValueError, match=rf"224 bytes long.*{NAME_MAX} bytes"):
        w.put(long)
    assert long.exists()
    for copy in (False, True):  # the longest name accepted is claimed, finished and failed
        fits = tmp_path / ("y" * 100 + ".tsv")
        fits.write_text("rows")
        w.put(fits, copy=copy)
        r = ReadableFolderQueue(tmp_path / "q", task_done_directory=tmp_path / "done")
        wip = r.get(timeout=1000)
        assert isinstance(wip, str)
        if copy:
            r.task_failed(wip, "too long?")
        else:
            r.task_done(wip)
        r.dispose()
        fits.unlink(missing_ok=True)


def test_give_back_returns_a_claim_as_the_same_attempt_and_syncs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    q = tmp_path / "q"
    w = WritableFolderQueue(q)
    (tmp_path / "a.tsv").write_text("rows")
    w.put(tmp_path / "a.tsv")
    r = ReadableFolderQueue(q, max_attempts=3, durability="fsync")
    first = r.get(timeout=1000)
    assert isinstance(first, str)
    r.task_failed(first, "once")
    second = r.get(timeout=1000)
    assert isinstance(second, str)
    synced: list[str] = []
    monkeypatch.setattr(files, "fsync_directory", synced.append)
    assert r.give_back(second) == str(q / "a.retry2.tsv")
    assert synced == [str(q)]
    again = r.get(timeout=1000)  # claimable at once by the same process
    assert again == second
    assert r.give_back(str(q / "gone.tsv@h@1@1@1.wip")) is None
    r.dispose()


def test_a_writer_with_block_closes_or_fails(tmp_path: Path) -> None:
    q = tmp_path / "q"
    with WritableFolderQueue(q) as w:
        pass
    assert sorted(n.rsplit(".", 1)[1] for n in entries(q)) == ["done", "helo"]
    with pytest.raises(RuntimeError), WritableFolderQueue(q) as w:
        raise RuntimeError("the producer broke")
    assert any(n == f"{w.producer}.failed" for n in entries(q))
    assert ReadableFolderQueue(q).get(timeout=1000) is FAILED
