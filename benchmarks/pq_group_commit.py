"""Group commit of ``PersistentQueue(durability="fsync")`` (used by ``pq_bench.py``).

Threads of one process putting into one fsync journal, against 1 thread, beside the
bound any Python group commit meets on this machine: no queue, no codec, no journal,
one flusher thread writing and syncing batch after batch. Each record's thread must
wake and take the GIL to go on, which bounds the rate however the syncs are shared.
"""

from __future__ import annotations

import os
import threading
import time
from multiprocessing.context import BaseContext

from harness import Trial
from pq_messages import plain

from persistq import PersistentQueue

GROUP_THREADS = 8
RECORD = b"00000000\tfile_000000.csv\n"


def threaded_puts(ctx: BaseContext, threads: int) -> Trial:
    """Time ``threads`` threads putting ``n`` messages in all into a fsync
    PersistentQueue (put only: the queue is drained afterwards, untimed)."""

    def trial(directory: str, n: int) -> float:
        q = PersistentQueue("bench", directory, durability="fsync", mp_context=ctx)
        share = n // threads
        go = threading.Barrier(threads + 1)

        def produce(first: int) -> None:
            go.wait()
            for i in range(first, first + share):
                q.put(plain(i))

        workers = [threading.Thread(target=produce, args=(t * share,)) for t in range(threads)]
        for w in workers:
            w.start()
        go.wait()
        start = time.perf_counter()
        for w in workers:
            w.join()
        elapsed = time.perf_counter() - start
        for _ in range(share * threads):  # drain without journalling
            q.joinable_queue.get()
            q.joinable_queue.task_done()
        q.dispose()
        return elapsed * n / (share * threads)

    return trial


def _reserved_file(directory: str) -> int:
    fd = os.open(os.path.join(directory, "raw"), os.O_RDWR | os.O_CREAT, 0o666)
    os.posix_fallocate(fd, 0, 64 << 20)
    os.fsync(fd)
    return fd


def raw_syncs(directory: str, n: int) -> float:
    """One thread: pwrite + fdatasync per record, into reserved space."""
    fd = _reserved_file(directory)
    start = time.perf_counter()
    for i in range(n):
        os.pwrite(fd, RECORD, i * len(RECORD))
        os.fdatasync(fd)
    elapsed = time.perf_counter() - start
    os.close(fd)
    return elapsed


def simplest_group_commit(threads: int) -> Trial:
    """``threads`` threads handing records to one flusher thread that writes and syncs
    batch after batch (the bound on group commit in CPython here)."""

    def trial(directory: str, n: int) -> float:
        fd = _reserved_file(directory)
        lock = threading.Lock()
        work = threading.Condition(lock)
        batch: list[threading.Lock] = []
        offset = 0
        stop = False

        def flusher() -> None:
            nonlocal batch, offset
            while True:
                with lock:
                    while not batch and not stop:
                        work.wait()
                    if stop:
                        return
                    waiting, batch = batch, []
                os.pwrite(fd, RECORD * len(waiting), offset)
                offset += len(RECORD) * len(waiting)
                os.fdatasync(fd)
                for gate in waiting:
                    gate.release()

        def append() -> None:
            gate = threading.Lock()
            gate.acquire()
            with lock:
                batch.append(gate)
                work.notify()
            gate.acquire()

        share = n // threads

        def produce() -> None:
            for _ in range(share):
                append()

        syncer = threading.Thread(target=flusher)
        syncer.start()
        workers = [threading.Thread(target=produce) for _ in range(threads)]
        start = time.perf_counter()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        elapsed = time.perf_counter() - start
        with lock:
            stop = True
            work.notify()
        syncer.join()
        os.close(fd)
        return elapsed * n / (share * threads)

    return trial


def group_commit_trials(ctx: BaseContext) -> dict[str, Trial]:
    """The trials of the group-commit rows, by name."""
    return {
        "1 thread": threaded_puts(ctx, 1),
        f"{GROUP_THREADS} threads": threaded_puts(ctx, GROUP_THREADS),
        "raw 1 thread": raw_syncs,
        f"raw {GROUP_THREADS} threads": simplest_group_commit(GROUP_THREADS),
    }
