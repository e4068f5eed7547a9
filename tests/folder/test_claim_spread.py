"""Several readers of one folder do not race each other for every next file: a reader
that loses a race jumps ahead (``OrderedIndex.lost_race``), keeping claims close to
sort order, and the names it set aside come back at its next listing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from persistq import DONE, ReadableFolderQueue, WritableFolderQueue
from persistq.folder import files
from persistq.folder.ordering import SPREAD, OrderedIndex

pytestmark = pytest.mark.timeout(60)


def fill(qdir: Path, n: int) -> list[str]:
    names = [f"m{i:04d}.tsv" for i in range(n)]
    w = WritableFolderQueue(qdir)
    for name in names:
        (qdir / name).write_text("x")
    w.close()
    return names


def queued(qdir: Path, names: list[str]) -> list[str]:
    return [n for n in names if (qdir / n).exists()]


def count_lost_claims(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    lost: list[str] = []
    claim = files.claim

    def counting(src: str, wip: str, *, regular: bool = False) -> files.ClaimOutcome:
        won = claim(src, wip, regular=regular)
        if not won:
            lost.append(os.path.basename(src))
        return won

    monkeypatch.setattr("persistq.folder.claimer.claim", counting)
    return lost


def test_a_lost_race_sets_the_next_names_aside_until_the_next_listing() -> None:
    index = OrderedIndex(str, spread=3)
    names = [f"n{i}" for i in range(10)]
    index.replace(names)
    assert index.pop_batch() == ["n0"]
    index.lost_race()  # another reader took n0 and goes on with n1, n2, ...
    assert index.set_aside()
    assert index.pop_batch() == ["n4"]
    index.discard("n2")  # an event: another reader claimed it
    assert "n1" in index and "n2" not in index
    assert index.replace([n for n in names if n not in {"n0", "n2", "n4"}]) == []
    assert not index.set_aside()
    assert [index.pop_batch() for _ in range(3)] == [["n1"], ["n3"], ["n5"]]


def test_a_lost_race_never_sets_aside_more_than_half_of_the_names_left() -> None:
    index = OrderedIndex(str)
    index.replace(["a", "b", "c"])
    index.lost_race()
    assert index.pop_batch() == ["b"]  # "a" set aside: half of the two left
    index.lost_race()
    assert index.pop_batch() == ["c"]  # one left: nothing set aside
    assert index.pop_batch() is None
    assert index.set_aside() and not index.ready()


def test_two_readers_taking_turns_rarely_collide_and_claim_near_sort_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Taking turns is the worst case of two readers walking the same sorted listing:
    before, every claim of one failed on the name the other had just taken."""
    qdir = tmp_path / "q"
    n = 400
    names = fill(qdir, n)
    lost = count_lost_claims(monkeypatch)
    readers = [ReadableFolderQueue(qdir, poll_interval=0.05) for _ in range(2)]
    done: list[str] = []
    finished: set[int] = set()
    while len(finished) < 2:
        for i, reader in enumerate(readers):
            if i in finished:
                continue
            left = queued(qdir, names)
            wip = reader.get(timeout=5000)
            if wip is DONE:
                finished.add(i)
                continue
            assert isinstance(wip, str)
            name = os.path.basename(reader.original_filename_from_wip(wip))
            assert left.index(name) <= 2 * SPREAD + 1, f"{name} claimed far ahead of {left[0]}"
            reader.task_done(wip)
            done.append(name)
    assert sorted(done) == names
    assert len(lost) <= n // 8, f"{len(lost)} failed claims for {n} files"
    for reader in readers:
        reader.dispose()


def test_names_set_aside_are_claimed_before_done(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    qdir = tmp_path / "q"
    names = fill(qdir, 40)
    lost = count_lost_claims(monkeypatch)
    a, b = (ReadableFolderQueue(qdir, poll_interval=0.05) for _ in range(2))
    claimed = []
    for reader in (a, b, a):  # a's second claim loses m0001 to b and jumps ahead
        wip = reader.get(timeout=5000)
        assert isinstance(wip, str)
        claimed.append(os.path.basename(reader.original_filename_from_wip(wip)))
        reader.task_done(wip)
    assert lost == ["m0001.tsv"]
    assert claimed == ["m0000.tsv", "m0001.tsv", f"m{SPREAD + 2:04d}.tsv"]
    b.dispose()  # b goes away: what a jumped over is left to a alone
    while (wip := a.get(timeout=5000)) is not DONE:
        assert isinstance(wip, str)
        claimed.append(os.path.basename(a.original_filename_from_wip(wip)))
        a.task_done(wip)
    a.dispose()
    assert sorted(claimed) == names
    assert queued(qdir, names) == []
