"""The folder-queue workloads of ``folder_bench.py``, ``compare.py`` and
``folder_syscalls.py``: each ``*_trial(layout)`` returns a :data:`harness.Trial`.

A message is a file of :data:`PAYLOAD` (92 bytes). A producer writes each message (the
folder queue's into a staging folder, then ``put``; dirq's ``add`` writes it); a consumer
claims it, reads it and finishes it (folder: ``for wip in reader`` + ``task_done``, which
deletes it; dirq: ``lock`` + ``get`` + ``remove``). The *protocol floor* does, with bare
``os`` calls, what the folder protocol cannot do without: one sorted listing, then per
file a rename to a wip name (the folder queue's, in the same folder), open + read +
close, and an unlink; no queue could claim by rename and consume for less. With two
consumers, each starts at its own share of the listing (the second half way in), so
they seldom race for a file.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Sequence
from multiprocessing.process import BaseProcess
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Barrier, Event

import attrs
from dirq.QueueSimple import QueueSimple
from harness import Trial

from persistq import ReadableFolderQueue, WritableFolderQueue

CTX = multiprocessing.get_context("fork")
PAYLOAD = b"2024-01-01\tEAST\t1234.5\n" * 4


@attrs.frozen
class Layout:
    """Processes of a throughput row: ``consumers`` consumer processes, and one producer
    process putting meanwhile (``producer``) or a queue filled beforehand, untimed."""

    label: str
    consumers: int
    producer: bool


LAYOUTS = (
    Layout("drain, 1 consumer", 1, False),
    Layout("drain, 2 consumers", 2, False),
    Layout("1 producer + 2 consumers", 2, True),
)


def write_message(folder: str, i: int) -> str:
    """Write message ``i`` (a file of :data:`PAYLOAD`) into ``folder``; return its path."""
    path = os.path.join(folder, f"m{i:07d}.tsv")
    with open(path, "wb") as f:
        f.write(PAYLOAD)
    return path


def _run(
    procs: Sequence[BaseProcess], barrier: Barrier, consumed: Synchronized[int], n: int
) -> float:
    """Start ``procs``, time from the barrier until all have exited; check that the
    consumers consumed ``n`` messages."""
    for p in procs:
        p.start()
    barrier.wait()
    started = time.perf_counter()
    for p in procs:
        p.join()
    elapsed = time.perf_counter() - started
    if any(p.exitcode != 0 for p in procs):
        raise RuntimeError(f"a benchmark process failed: {[p.exitcode for p in procs]}")
    if consumed.value != n:
        raise RuntimeError(f"consumed {consumed.value} of {n} messages")
    return elapsed


# -- the folder queue -----------------------------------------------------------------


def _folder_consumer(qdir: str, barrier: Barrier, consumed: Synchronized[int]) -> None:
    reader = ReadableFolderQueue(qdir)
    count = 0
    barrier.wait()
    for wip in reader:
        with open(wip, "rb") as f:
            f.read()
        reader.task_done(wip)
        count += 1
    with consumed.get_lock():
        consumed.value += count


def _folder_producer(qdir: str, staging: str, n: int, barrier: Barrier) -> None:
    writer = WritableFolderQueue(qdir)
    barrier.wait()
    for i in range(n):
        writer.put(write_message(staging, i))
    writer.close()


def folder_trial(layout: Layout) -> Trial:
    """The folder queue in ``layout``: seconds for the consumers to finish ``n`` messages."""

    def trial(directory: str, n: int) -> float:
        qdir, staging = os.path.join(directory, "q"), os.path.join(directory, "staging")
        os.mkdir(staging)
        writer = WritableFolderQueue(qdir)
        if not layout.producer:
            for i in range(n):
                write_message(qdir, i)
        writer.close()  # a drained folder ends in DONE
        barrier = CTX.Barrier(layout.consumers + layout.producer + 1)
        consumed = CTX.Value("q", 0)
        procs: list[BaseProcess] = [
            CTX.Process(target=_folder_consumer, args=(qdir, barrier, consumed))
            for _ in range(layout.consumers)
        ]
        if layout.producer:
            procs.append(CTX.Process(target=_folder_producer, args=(qdir, staging, n, barrier)))
        return _run(procs, barrier, consumed, n)

    return trial


# -- dirq.QueueSimple -----------------------------------------------------------------


def _dirq_consumer(
    path: str, finished: Event, barrier: Barrier, consumed: Synchronized[int]
) -> None:
    q = QueueSimple(path)
    count = 0
    barrier.wait()
    while True:
        last_pass = finished.is_set()  # every message was added before this pass
        got = 0
        name = q.first()
        while name:
            if q.lock(name):
                q.get(name)
                q.remove(name)
                got += 1
            name = q.next()
        count += got
        if not got:
            if last_pass:
                break
            time.sleep(0.001)  # dirq has no wake-up: poll
    with consumed.get_lock():
        consumed.value += count


def _dirq_producer(path: str, n: int, finished: Event, barrier: Barrier) -> None:
    q = QueueSimple(path)
    barrier.wait()
    for _ in range(n):
        q.add(PAYLOAD)
    finished.set()


def dirq_trial(layout: Layout) -> Trial:
    """``dirq.QueueSimple`` in ``layout``, as :func:`folder_trial`."""

    def trial(directory: str, n: int) -> float:
        path = os.path.join(directory, "q")
        q = QueueSimple(path)
        finished = CTX.Event()
        if not layout.producer:
            for _ in range(n):
                q.add(PAYLOAD)
            finished.set()
        barrier = CTX.Barrier(layout.consumers + layout.producer + 1)
        consumed = CTX.Value("q", 0)
        procs: list[BaseProcess] = [
            CTX.Process(target=_dirq_consumer, args=(path, finished, barrier, consumed))
            for _ in range(layout.consumers)
        ]
        if layout.producer:
            procs.append(CTX.Process(target=_dirq_producer, args=(path, n, finished, barrier)))
        return _run(procs, barrier, consumed, n)

    return trial


# -- the protocol floor -----------------------------------------------------------------


def _floor_consumer(
    qdir: str, barrier: Barrier, consumed: Synchronized[int], share: tuple[int, int]
) -> None:
    suffix = os.path.basename(ReadableFolderQueue(qdir).wip_filename("m.tsv"))[len("m.tsv") :]
    count = 0
    barrier.wait()
    names = sorted(name for name in os.listdir(qdir) if name.endswith(".tsv"))
    start = len(names) * share[0] // share[1]  # consumer k of c starts k/c of the way in
    for name in names[start:] + names[:start]:
        src = f"{qdir}/{name}"
        wip = src + suffix
        try:
            os.rename(src, wip)
        except FileNotFoundError:  # another consumer claimed it
            continue
        with open(wip, "rb") as f:
            f.read()
        os.unlink(wip)
        count += 1
    with consumed.get_lock():
        consumed.value += count


def floor_trial(layout: Layout) -> Trial:
    """The protocol floor of a drain ``layout`` (no producer), as :func:`folder_trial`:
    the same files, the same processes, bare ``os`` calls."""
    if layout.producer:
        raise ValueError(f"the protocol floor is a drain: {layout.label!r} has a producer")

    def trial(directory: str, n: int) -> float:
        qdir = os.path.join(directory, "q")
        os.mkdir(qdir)
        for i in range(n):
            write_message(qdir, i)
        barrier = CTX.Barrier(layout.consumers + 1)
        consumed = CTX.Value("q", 0)
        procs: list[BaseProcess] = [
            CTX.Process(
                target=_floor_consumer, args=(qdir, barrier, consumed, (k, layout.consumers))
            )
            for k in range(layout.consumers)
        ]
        return _run(procs, barrier, consumed, n)

    return trial
