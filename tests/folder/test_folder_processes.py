"""Folder queues across processes: exactly-once claims, groups, SIGKILL recovery, waking,
pickling under fork and spawn."""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import signal
import time
from multiprocessing.synchronize import Barrier
from pathlib import Path
from queue import Empty

import pytest

from persistq import (
    DONE,
    ReadableFolderQueue,
    ReadableGroupedFileFolderQueue,
    WritableFolderQueue,
)
from persistq.folder.names import parse_wip

FORK = mp.get_context("fork")
SPAWN = mp.get_context("spawn")


def wait_for(path: Path, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} did not appear")
        time.sleep(0.005)
    return path.read_text()


def write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name("." + path.name)
    tmp.write_text(text)
    os.replace(tmp, path)


def stage(folder: Path, names: list[str]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in names:
        p = folder / name
        p.write_text(name)
        paths.append(p)
    return paths


# -- child process bodies (module level, so that spawn can import them) ------------------


def consume_all(qdir: str, done: str, out: str) -> None:
    r = ReadableFolderQueue(qdir, task_done_directory=done)
    claimed = []
    for wip in r:
        claimed.append(os.path.basename(r.original_filename_from_wip(wip)))
        r.task_done(wip)
    write_atomically(Path(out), "\n".join(claimed))


def consume_groups(qdir: str, out: str) -> None:
    r = ReadableGroupedFileFolderQueue(
        qdir,
        grouping_function=group_key,
        item_function=item_key,
        list_of_items_in_group=["a", "b", "c"],
    )
    lines = []
    for group in r:
        originals = [os.path.basename(r.original_filename_from_wip(w)) for w in group]
        lines.append(" ".join(originals))
        for wip in group:
            r.task_done(wip)
    write_atomically(Path(out), "\n".join(lines))


def group_key(name: str) -> str:
    return name.split("_", maxsplit=1)[0]


def item_key(name: str) -> str:
    return name.split("_")[1].split(".", maxsplit=1)[0]


def claim_and_hang(qdir: str, out: str) -> None:
    r = ReadableFolderQueue(qdir)
    wip = r.get(timeout=20_000)
    write_atomically(Path(out), str(wip))
    time.sleep(600)


def claim_group_and_hang(qdir: str, out: str) -> None:
    r = ReadableGroupedFileFolderQueue(
        qdir, grouping_function=group_key, item_function=item_key, list_of_items_in_group=["a", "b"]
    )
    group = r.get(timeout=20_000)
    write_atomically(Path(out), "\n".join(group) if isinstance(group, list) else "")
    time.sleep(600)


def racing_put(qdir: str, source: str, barrier: Barrier, out: str) -> None:
    w = WritableFolderQueue(qdir)
    barrier.wait()
    try:
        w.put(source)
    except FileExistsError:
        write_atomically(Path(out), "lost")
    else:
        write_atomically(Path(out), "won")


def get_once_timed(qdir: str, ready: str, out: str) -> None:
    r = ReadableFolderQueue(qdir)
    try:
        r.get(timeout=1)
    except Exception:
        write_atomically(Path(ready), "ready")
    wip = r.get(timeout=20_000)
    write_atomically(Path(out), f"{time.monotonic()!r}\n{wip}")


def use_pickled_reader(r: ReadableFolderQueue, out: str) -> None:
    wip = r.get(timeout=20_000)
    assert isinstance(wip, str)
    os.link(wip, out + ".data")
    r.task_done(wip)
    write_atomically(Path(out), wip)


def use_pickled_writer(w: WritableFolderQueue, source: str) -> None:
    w.put(source)
    w.close()


# -- tests -------------------------------------------------------------------------------


@pytest.mark.timeout(90)
def test_four_consumers_claim_each_of_400_files_exactly_once(tmp_path: Path) -> None:
    qdir, done, staging = tmp_path / "q", tmp_path / "done", tmp_path / "staging"
    names = [f"m{i:04d}.tsv" for i in range(400)]
    sources = stage(staging, names)
    w = WritableFolderQueue(qdir)
    outs = [tmp_path / f"out{i}" for i in range(4)]
    procs = [FORK.Process(target=consume_all, args=(str(qdir), str(done), str(o))) for o in outs]
    for p in procs:
        p.start()
    for source in sources:
        w.put(source)
    w.close()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    claimed = [line for o in outs for line in o.read_text().split("\n") if line]
    assert len(claimed) == len(names)
    assert sorted(claimed) == names
    assert sorted(os.listdir(done)) == names
    assert all(n.endswith((".helo", ".done")) for n in os.listdir(qdir))


@pytest.mark.timeout(90)
def test_two_grouped_consumers_never_split_one_of_30_groups(tmp_path: Path) -> None:
    qdir, staging = tmp_path / "q", tmp_path / "staging"
    names = [f"g{g:02d}_{item}.tsv" for g in range(30) for item in "abc"]
    random.Random(7).shuffle(names)
    sources = stage(staging, names)
    w = WritableFolderQueue(qdir)
    outs = [tmp_path / "out0", tmp_path / "out1"]
    procs = [FORK.Process(target=consume_groups, args=(str(qdir), str(o))) for o in outs]
    for p in procs:
        p.start()
    for source in sources:
        w.put(source)
    w.close()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    groups = [line.split() for o in outs for line in o.read_text().split("\n") if line]
    assert len(groups) == 30
    for group in groups:
        assert len({group_key(n) for n in group}) == 1
        assert sorted(item_key(n) for n in group) == ["a", "b", "c"]
    assert sorted(n for g in groups for n in g) == sorted(names)


@pytest.mark.timeout(60)
def test_sigkilled_consumer_is_recovered_while_others_keep_their_claims(tmp_path: Path) -> None:
    qdir, staging = tmp_path / "q", tmp_path / "staging"
    w = WritableFolderQueue(qdir)
    for source in stage(staging, ["a.tsv", "b.tsv", "c.tsv", "d.tsv"]):
        w.put(source)
    victim_out, survivor_out = tmp_path / "victim", tmp_path / "survivor"
    victim = FORK.Process(target=claim_and_hang, args=(str(qdir), str(victim_out)))
    victim.start()
    victim_wip = wait_for(victim_out)
    survivor = FORK.Process(target=claim_and_hang, args=(str(qdir), str(survivor_out)))
    survivor.start()
    survivor_wip = wait_for(survivor_out)
    try:
        me = ReadableFolderQueue(qdir)
        my_wip = me.get(timeout=1000)
        assert isinstance(my_wip, str)
        assert me.recover_abandoned() == []
        assert victim.pid is not None
        os.kill(victim.pid, signal.SIGKILL)
        victim.join(10)
        assert victim.exitcode == -signal.SIGKILL
        original = me.original_filename_from_wip(victim_wip)
        assert me.recover_abandoned() == [original]
        assert os.path.exists(original)
        assert os.path.exists(survivor_wip)
        assert os.path.exists(my_wip)
        recovered = me.get(timeout=1000)
        assert isinstance(recovered, str)
        assert me.original_filename_from_wip(recovered) == original
        assert survivor.is_alive()
    finally:
        survivor.kill()
        survivor.join(10)
    # Constructing a reader changes nothing; taking back the claim of the (now dead)
    # survivor is asked for (its first get would do so too).
    late = ReadableFolderQueue(qdir)
    assert os.path.exists(survivor_wip)
    assert late.recover_abandoned() == [me.original_filename_from_wip(survivor_wip)]
    assert not os.path.exists(survivor_wip)
    assert os.path.exists(me.original_filename_from_wip(survivor_wip))


@pytest.mark.timeout(60)
def test_a_killed_grouped_consumer_does_not_strand_its_group(tmp_path: Path) -> None:
    qdir, staging = tmp_path / "q", tmp_path / "staging"
    w = WritableFolderQueue(qdir)
    for source in stage(staging, ["g1_a.tsv", "g1_b.tsv"]):
        w.put(source)
    w.close()
    out = tmp_path / "out"
    victim = FORK.Process(target=claim_group_and_hang, args=(str(qdir), str(out)))
    victim.start()
    held = wait_for(out).split("\n")
    assert len(held) == 2
    victim.kill()
    victim.join(10)
    r = ReadableGroupedFileFolderQueue(
        qdir, grouping_function=group_key, item_function=item_key, list_of_items_in_group=["a", "b"]
    )
    group = r.get(timeout=10_000)
    assert isinstance(group, list)
    assert sorted(os.path.basename(r.original_filename_from_wip(g)) for g in group) == [
        "g1_a.tsv",
        "g1_b.tsv",
    ]
    for wip in group:
        r.task_done(wip)
    assert r.get(timeout=10_000) is DONE


@pytest.mark.timeout(60)
def test_racing_producers_never_overwrite_each_other(tmp_path: Path) -> None:
    qdir = tmp_path / "q"
    racers = 6
    barrier = FORK.Barrier(racers)
    sources = [stage(tmp_path / f"src{i}", ["same.tsv"])[0] for i in range(racers)]
    for i, source in enumerate(sources):
        source.write_text(f"from {i}")
    outs = [tmp_path / f"out{i}" for i in range(racers)]
    procs = [
        FORK.Process(target=racing_put, args=(str(qdir), str(s), barrier, str(o)))
        for s, o in zip(sources, outs, strict=True)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    results = [o.read_text() for o in outs]
    assert results.count("won") == 1
    winner = results.index("won")
    assert (qdir / "same.tsv").read_text() == f"from {winner}"
    for i, source in enumerate(sources):
        assert source.exists() == (i != winner)


@pytest.mark.timeout(60)
def test_blocked_get_wakes_on_a_put_from_another_process(tmp_path: Path) -> None:
    qdir, staging = tmp_path / "q", tmp_path / "staging"
    (source,) = stage(staging, ["late.tsv"])
    WritableFolderQueue(qdir)
    ready, out = tmp_path / "ready", tmp_path / "out"
    child = FORK.Process(target=get_once_timed, args=(str(qdir), str(ready), str(out)))
    child.start()
    wait_for(ready)
    time.sleep(0.3)  # let the child block in get()
    writer = WritableFolderQueue(qdir)
    started = time.monotonic()
    writer.put(source)
    woke_at, wip = wait_for(out).split("\n")
    child.join(10)
    assert os.path.basename(wip).startswith("late.tsv@")
    # Well under the old one-second poll (exact latency is in the benchmark).
    assert float(woke_at) - started < 0.5


@pytest.mark.timeout(90)
@pytest.mark.parametrize("context", [FORK, SPAWN], ids=["fork", "spawn"])
def test_queues_travel_to_child_processes(tmp_path: Path, context: mp.context.BaseContext) -> None:
    qdir, staging = tmp_path / "q", tmp_path / "staging"
    (source,) = stage(staging, ["x.tsv"])
    w = WritableFolderQueue(qdir)
    r = ReadableFolderQueue(qdir)
    with pytest.raises(Empty):  # the parent's observer runs before the queue is pickled
        r.get(timeout=1)
    child = context.Process(target=use_pickled_writer, args=(w, str(source)))  # type: ignore[attr-defined]
    child.start()
    child.join(60)
    assert child.exitcode == 0
    out = tmp_path / "out"
    reader = context.Process(target=use_pickled_reader, args=(r, str(out)))  # type: ignore[attr-defined]
    reader.start()
    reader.join(60)
    assert reader.exitcode == 0
    wip = parse_wip(os.path.basename(out.read_text()))
    assert wip is not None
    assert wip.original == "x.tsv"
    assert wip.owner.pid == reader.pid != os.getpid()
    assert Path(str(out) + ".data").read_text() == "x.tsv"
    assert r.get(timeout=1000) is DONE
