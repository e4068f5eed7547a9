"""The grouped reader in one process: complete groups only, whole claims, rollback."""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path
from queue import Empty

import pytest

from persistq import DONE, ReadableGroupedFileFolderQueue, WritableFolderQueue
from persistq.folder import claimer, files, readable
from persistq.folder.grouped import GroupIndex
from persistq.folder.names import Kind, Owner, classify, wip_name
from persistq.folder.recovery import abandoned
from tests.cli.helpers import dead_pid

pytestmark = pytest.mark.timeout(30)
ITEMS = ["east", "west"]


def key(name: str) -> str:
    return name.split("_", maxsplit=1)[0]


def item(name: str) -> str:
    return name.split("_")[1].removesuffix(".tsv")


def reader(qdir: Path, done: Path | None = None) -> ReadableGroupedFileFolderQueue:
    return ReadableGroupedFileFolderQueue(
        qdir,
        task_done_directory=done,
        grouping_function=key,
        item_function=item,
        list_of_items_in_group=ITEMS,
    )


def put(w: WritableFolderQueue, tmp: Path, *names: str) -> None:
    for name in names:
        p = tmp / name
        p.write_text(name)
        w.put(p)


def originals(r: ReadableGroupedFileFolderQueue, group: object) -> list[str]:
    assert isinstance(group, list)
    return [os.path.basename(r.original_filename_from_wip(w)) for w in group]


def test_only_complete_groups_are_handed_out_in_key_order(tmp_path: Path) -> None:
    qdir = tmp_path / "q"
    w = WritableFolderQueue(qdir)
    r = reader(qdir)
    put(w, tmp_path, "20240102_east.tsv", "20240101_west.tsv", "20240102_west.tsv")
    put(w, tmp_path, "20240101_north.tsv")  # not an item of any group
    assert originals(r, r.get(timeout=1000)) == ["20240102_east.tsv", "20240102_west.tsv"]
    with pytest.raises(Empty):
        r.get(timeout=50)
    put(w, tmp_path, "20240101_east.tsv")
    assert originals(r, r.get(timeout=1000)) == ["20240101_east.tsv", "20240101_west.tsv"]
    assert (qdir / "20240101_north.tsv").exists()


def test_functions_receive_base_names(tmp_path: Path) -> None:
    seen: list[str] = []

    def spy(name: str) -> str:
        seen.append(name)
        return key(name)

    qdir = tmp_path / "q"
    w = WritableFolderQueue(qdir)
    r = ReadableGroupedFileFolderQueue(
        qdir, grouping_function=spy, item_function=item, list_of_items_in_group=ITEMS
    )
    put(w, tmp_path, "d1_east.tsv", "d1_west.tsv")
    assert isinstance(r.get(timeout=1000), list)
    assert sorted(set(seen)) == ["d1_east.tsv", "d1_west.tsv"]


def test_partial_claim_is_rolled_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    qdir = tmp_path / "q"
    w = WritableFolderQueue(qdir)
    put(w, tmp_path, "d1_east.tsv", "d1_west.tsv")
    r = reader(qdir)
    real_claim = files.claim

    def lose_second(src: str, wip: str, *, regular: bool = False) -> files.ClaimOutcome:
        if src.endswith("west.tsv"):
            return files.ClaimOutcome.TAKEN  # as if another reader had taken it
        return real_claim(src, wip, regular=regular)

    monkeypatch.setattr(claimer, "claim", lose_second)
    with pytest.raises(Empty):
        r.get(timeout=50)
    names = sorted(os.listdir(qdir))
    assert [n for n in names if classify(n, ".tsv") is Kind.WIP] == []
    assert [n for n in names if classify(n, ".tsv") is Kind.MESSAGE] == [
        "d1_east.tsv",
        "d1_west.tsv",
    ]
    monkeypatch.setattr(claimer, "claim", real_claim)
    assert originals(r, r.get(timeout=10_000)) == ["d1_east.tsv", "d1_west.tsv"]


def test_done_with_incomplete_groups_left_in_place(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    qdir = tmp_path / "q"
    w = WritableFolderQueue(qdir)
    put(w, tmp_path, "d1_east.tsv", "d1_west.tsv", "d2_east.tsv")
    w.close()
    r = reader(qdir, tmp_path / "done")
    with caplog.at_level(logging.WARNING, logger="persistq"):
        r.mark_all_work_done()
    assert sorted(os.listdir(tmp_path / "done")) == ["d1_east.tsv", "d1_west.tsv"]
    assert (qdir / "d2_east.tsv").exists()
    assert "d2" in caplog.text
    assert r.get(timeout=0) is DONE


def test_a_group_needs_items(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="list_of_items_in_group"):
        ReadableGroupedFileFolderQueue(tmp_path / "q")


def test_group_index() -> None:
    index = GroupIndex(lambda n: (n[0], n[1]) if n[1] in "ab" else None, 2)
    for name in ["2a", "1a", "3c", "2b"]:
        index.add(name)
    assert len(index) == 3
    assert index.ready()
    assert index.pop_batch() == ["2a", "2b"]
    assert index.pop_batch() is None
    index.add("1b")
    index.discard("1a")
    assert not index.ready()
    assert index.replace(["1a", "1b"]) == ["1a"]
    assert index.pop_batch() == ["1a", "1b"]
    assert index.incomplete() == []


def test_two_readers_finishing_a_dead_owners_group_at_once_both_go_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The owner died moving its finished group: west is in done/, east still claimed.
    # Both readers see that claim; the one that finishes second finds it gone.
    qdir, done = tmp_path / "q", tmp_path / "done"
    qdir.mkdir()
    done.mkdir()
    dead = Owner(socket.gethostname(), dead_pid(), 1)
    (qdir / wip_name("g1_east.tsv", dead, 1)).write_text("east")
    (done / "g1_west.tsv").write_text("west")
    first, second = reader(qdir, done), reader(qdir, done)

    def seen_then_finished_by_the_other(*args: object) -> object:
        claims = abandoned(*args)  # type: ignore[arg-type]
        monkeypatch.setattr(readable, "abandoned", abandoned)
        first.recover_abandoned()  # finishes the group meanwhile
        return claims

    monkeypatch.setattr(readable, "abandoned", seen_then_finished_by_the_other)
    assert second.recover_abandoned() == []
    assert sorted(os.listdir(done)) == ["g1_east.tsv", "g1_west.tsv"]
    assert not [n for n in os.listdir(qdir) if classify(n, ".tsv") is Kind.WIP]
