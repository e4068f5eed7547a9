"""The ``PersistentQueue`` workloads of ``pq_bench.py`` and ``compare.py``: each function
returns (or is) a :data:`harness.Trial`.

One process: put N, then get + task_done N. 1 producer (the benchmark's process) + 2
consumer processes: timed from the first put until ``join()`` returns. The PyMPX
pattern is a JoinableQueue beside a plain text journal written with ``write()`` +
``flush()`` per put and per task_done.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from multiprocessing.context import BaseContext
from multiprocessing.synchronize import Barrier
from typing import Any, TextIO

import persistqueue
from harness import Trial
from pq_messages import Message, plain

from persistq import PersistentQueue
from persistq.durability import Durability

CONSUMERS = 2


class PlainJournal:
    """One text line per record, ``write()`` + ``flush()`` each (the PyMPX pattern)."""

    def __init__(self, directory: str, kind: str) -> None:
        path = os.path.join(directory, f"bench_{kind}_PID{os.getpid()}.tsv")
        self._file: TextIO = open(path, "a", encoding="utf-8")  # noqa: SIM115

    def record(self, msg: str) -> None:
        self._file.write(msg + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


# -- single-process workload: put N, then get + task_done N ----------------------------


def single_bare(ctx: BaseContext) -> Trial:
    def trial(directory: str, n: int) -> float:
        q: Any = ctx.JoinableQueue()
        start = time.perf_counter()
        for i in range(n):
            q.put(plain(i))
        for _ in range(n):
            q.get()
            q.task_done()
        return time.perf_counter() - start

    return trial


def single_pympx(ctx: BaseContext) -> Trial:
    def trial(directory: str, n: int) -> float:
        q: Any = ctx.JoinableQueue()
        requested = PlainJournal(directory, "requested")
        completed = PlainJournal(directory, "completed")
        start = time.perf_counter()
        for i in range(n):
            msg = plain(i)
            requested.record(msg)
            q.put(msg)
        for _ in range(n):
            msg = q.get()
            completed.record(msg)
            q.task_done()
        elapsed = time.perf_counter() - start
        requested.close()
        completed.close()
        return elapsed

    return trial


def single_sqlite_ack(directory: str, n: int) -> float:
    q = persistqueue.SQLiteAckQueue(os.path.join(directory, "sqlite"))
    start = time.perf_counter()
    for i in range(n):
        q.put(plain(i))
    for _ in range(n):
        q.ack(q.get())
    elapsed = time.perf_counter() - start
    q.close()
    return elapsed


def single_persistent(ctx: BaseContext, durability: Durability) -> Trial:
    def trial(directory: str, n: int) -> float:
        q = PersistentQueue("bench", directory, durability=durability, mp_context=ctx)
        start = time.perf_counter()
        for i in range(n):
            q.put(plain(i))
        for _ in range(n):
            q.task_done(q.get())
        elapsed = time.perf_counter() - start
        q.dispose()
        return elapsed

    return trial


# -- 1 producer (this process) + 2 consumer processes, timed until join() returns -------


def _consume_bare(q: Any, ready: Barrier) -> None:
    ready.wait()
    while q.get() is not None:
        q.task_done()


def _consume_pympx(q: Any, directory: str, ready: Barrier) -> None:
    completed = PlainJournal(directory, "completed")
    ready.wait()
    while (msg := q.get()) is not None:
        completed.record(msg)
        q.task_done()
    completed.close()


def _consume_persistent(q: PersistentQueue, ready: Barrier) -> None:
    ready.wait()
    for msg in q:  # until DONE, then dispose()
        q.task_done(msg)


def _run_consumers(
    ctx: BaseContext, target: Callable[..., None], args: tuple[Any, ...], ready: Barrier
) -> list[Any]:
    procs = [ctx.Process(target=target, args=(*args, ready)) for _ in range(CONSUMERS)]  # type: ignore[attr-defined]
    for p in procs:
        p.start()
    ready.wait()
    return procs


def _finish(procs: list[Any]) -> None:
    for p in procs:
        p.join()
        if p.exitcode != 0:
            raise RuntimeError(f"consumer {p.pid} exited with {p.exitcode}")


def multi_bare(ctx: BaseContext, make: Message = plain) -> Trial:
    def trial(directory: str, n: int) -> float:
        q: Any = ctx.JoinableQueue()
        procs = _run_consumers(ctx, _consume_bare, (q,), ctx.Barrier(CONSUMERS + 1))
        start = time.perf_counter()
        for i in range(n):
            q.put(make(i))
        q.join()
        elapsed = time.perf_counter() - start
        for _ in procs:
            q.put(None)
        _finish(procs)
        return elapsed

    return trial


def multi_pympx(ctx: BaseContext) -> Trial:
    def trial(directory: str, n: int) -> float:
        q: Any = ctx.JoinableQueue()
        procs = _run_consumers(ctx, _consume_pympx, (q, directory), ctx.Barrier(CONSUMERS + 1))
        requested = PlainJournal(directory, "requested")
        start = time.perf_counter()
        for i in range(n):
            msg = plain(i)
            requested.record(msg)
            q.put(msg)
        q.join()
        elapsed = time.perf_counter() - start
        requested.close()
        for _ in procs:
            q.put(None)
        _finish(procs)
        return elapsed

    return trial


def multi_persistent(ctx: BaseContext, durability: Durability, make: Message = plain) -> Trial:
    def trial(directory: str, n: int) -> float:
        q = PersistentQueue(
            "bench", directory, number_of_workers=CONSUMERS, durability=durability, mp_context=ctx
        )
        procs = _run_consumers(ctx, _consume_persistent, (q,), ctx.Barrier(CONSUMERS + 1))
        start = time.perf_counter()
        for i in range(n):
            q.put(make(i))
        q.join()
        elapsed = time.perf_counter() - start
        q.close()
        _finish(procs)
        return elapsed

    return trial
