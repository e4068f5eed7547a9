"""PersistentQueue throughput against its ceiling and its alternatives (issue 2).

Run ``.venv/bin/python benchmarks/pq_bench.py`` (a few minutes on 2 cores) or add
``--quick`` for a ~20 s smoke run. Prints one Markdown table of messages per second
of put + get + task_done, every row measured in this run on the same disk:

* bare ``multiprocessing.JoinableQueue`` (the ceiling);
* the PyMPX pattern: a JoinableQueue beside a plain text journal written with
  ``write()`` + ``flush()`` per put and per task_done;
* ``persistqueue.SQLiteAckQueue`` (put / get / ack; single process only);
* ``PersistentQueue`` at durability ``none``, ``flush`` and ``fsync``;

for one process (put N, then get + task_done N) and for 1 producer + 2 consumer
processes (timed until ``join()`` returns), plus a group-commit row: 8 threads of
one process putting into a ``PersistentQueue(durability="fsync")`` against 1 thread,
beside the bound any Python group commit meets here (the simplest one, 8 threads,
against a bare write + fdatasync loop).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.context import BaseContext
from multiprocessing.synchronize import Barrier
from typing import Any, TextIO

import persistqueue

from persistq import PersistentQueue
from persistq.durability import DURABILITIES, Durability

CONSUMERS = 2
GROUP_THREADS = 8
REPEATS = 5
N_MAX = 2_000_000

Trial = Callable[[str, int], float]
"""Runs one timed trial of ``n`` messages in a fresh directory; returns seconds."""


def message(i: int) -> str:
    """A typical ETL work item: a data file name."""
    return f"file_{i:06d}.csv"


# -- the PyMPX pattern: a JoinableQueue with a plain text journal beside it ------------


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


# -- single-process workload ---------------------------------------------------------


def single_bare(ctx: BaseContext) -> Trial:
    def trial(directory: str, n: int) -> float:
        q: Any = ctx.JoinableQueue()
        start = time.perf_counter()
        for i in range(n):
            q.put(message(i))
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
            msg = message(i)
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
        q.put(message(i))
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
            q.put(message(i))
        for _ in range(n):
            q.task_done(q.get())
        elapsed = time.perf_counter() - start
        q.dispose()
        return elapsed

    return trial


# -- 1 producer (this process) + 2 consumer processes --------------------------------


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


def multi_bare(ctx: BaseContext) -> Trial:
    def trial(directory: str, n: int) -> float:
        q: Any = ctx.JoinableQueue()
        procs = _run_consumers(ctx, _consume_bare, (q,), ctx.Barrier(CONSUMERS + 1))
        start = time.perf_counter()
        for i in range(n):
            q.put(message(i))
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
            msg = message(i)
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


def multi_persistent(ctx: BaseContext, durability: Durability) -> Trial:
    def trial(directory: str, n: int) -> float:
        q = PersistentQueue(
            "bench",
            directory,
            number_of_workers=CONSUMERS,
            durability=durability,
            mp_context=ctx,
        )
        procs = _run_consumers(ctx, _consume_persistent, (q,), ctx.Barrier(CONSUMERS + 1))
        start = time.perf_counter()
        for i in range(n):
            q.put(message(i))
        q.join()
        elapsed = time.perf_counter() - start
        q.close()
        _finish(procs)
        return elapsed

    return trial


# -- group commit: producer threads putting into one fsync journal -------------------


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
                q.put(message(i))

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


# -- the bound on group commit in CPython on this machine ----------------------------
#
# What ``threads`` Python threads sharing syncs can reach at best: no queue, no codec,
# no journal, one flusher thread writing and syncing batch after batch. Each record's
# thread must wake and take the GIL to go on, which bounds the rate however the syncs
# are shared.

RECORD = b"00000000\tfile_000000.csv\n"


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


# -- measuring -----------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    rates: tuple[float, ...]  # msgs/s in each round
    n: int

    @property
    def rate(self) -> float:
        return statistics.median(self.rates)

    def ratio_to(self, baseline: Result) -> float:
        """The median over the rounds of this rate over the baseline's rate in the
        same round (rows compared ran seconds apart, so disk drift mostly cancels)."""
        return statistics.median(a / b for a, b in zip(self.rates, baseline.rates, strict=True))


def _run(trial: Trial, root: str, n: int) -> float:
    directory = tempfile.mkdtemp(prefix="run_", dir=root)
    try:
        return n / trial(directory, n)
    finally:
        shutil.rmtree(directory)


def _calibrate(trial: Trial, root: str, target_s: float) -> int:
    """Return the N for which one trial takes about ``target_s`` (from small trials,
    which also warm up)."""
    probe = 200
    rate = _run(trial, root, probe)
    while probe / rate < target_s / 10 and probe < N_MAX:
        probe = min(probe * 4, N_MAX)
        rate = _run(trial, root, probe)
    n = max(probe, min(N_MAX, int(rate * target_s)))
    return n - n % GROUP_THREADS


def measure(
    trials: dict[str, Trial], root: str, target_s: float, repeats: int
) -> dict[str, Result]:
    """Size N for each trial, then run ``repeats`` rounds of every trial in turn (so
    that the disk's drift hits the rows compared alike); return each one's median."""
    sizes = {name: _calibrate(trial, root, target_s) for name, trial in trials.items()}
    rates: dict[str, list[float]] = {name: [] for name in trials}
    for _ in range(repeats):
        for name, trial in trials.items():
            rates[name].append(_run(trial, root, sizes[name]))
    results = {name: Result(tuple(r), sizes[name]) for name, r in rates.items()}
    for name, res in results.items():
        print(f"  {name:>14}: {res.rate:>10,.0f} msgs/s (N={res.n:,})", file=sys.stderr)
    return results


@dataclass(frozen=True)
class Row:
    queue: str
    workload: str
    result: Result | None
    baseline: Result | None
    baseline_name: str
    goal: str = ""
    goal_ratio: float | None = None
    goal_baseline: Result | None = None

    def ratio(self) -> str:
        if self.result is None or self.baseline is None:
            return "n/a"
        return f"{self.result.ratio_to(self.baseline):.2f}x {self.baseline_name}"

    def goal_cell(self) -> str:
        if not self.goal or self.result is None or self.goal_baseline is None:
            return ""
        assert self.goal_ratio is not None
        achieved = self.result.ratio_to(self.goal_baseline)
        verdict = "met" if achieved >= self.goal_ratio else "**missed**"
        return f"{self.goal}: {achieved:.2f}x — {verdict}"


def table(rows: list[Row]) -> str:
    lines = [
        "| queue | workload | msgs/s (median) | min - max | N | ratio (median of rounds) | goal |",
        "|---|---|---:|---:|---:|---|---|",
    ]
    for r in rows:
        rate = f"{r.result.rate:,.0f}" if r.result else "n/a (single-process only)"
        spread = f"{min(r.result.rates):,.0f} - {max(r.result.rates):,.0f}" if r.result else ""
        n = f"{r.result.n:,}" if r.result else ""
        lines.append(
            f"| {r.queue} | {r.workload} | {rate} | {spread} | {n} "
            f"| {r.ratio()} | {r.goal_cell()} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--quick", action="store_true", help="~20 s smoke run")
    parser.add_argument(
        "--dir",
        default=None,
        help="parent of the temporary journal directories (default: the system temp dir)",
    )
    args = parser.parse_args(argv)
    target_s = 1.0 if args.quick else 2.0
    repeats = 1 if args.quick else REPEATS
    ctx = multiprocessing.get_context("fork")

    root = tempfile.mkdtemp(prefix="pq_bench_", dir=args.dir)
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    same_disk = os.stat(root).st_dev == os.stat(repo).st_dev
    try:
        print("single process:", file=sys.stderr)
        single_results = measure(
            {
                "bare": single_bare(ctx),
                "pympx": single_pympx(ctx),
                "sqlite": single_sqlite_ack,
                **{d: single_persistent(ctx, d) for d in DURABILITIES},
            },
            root,
            target_s,
            repeats,
        )
        print(f"1 producer + {CONSUMERS} consumer processes:", file=sys.stderr)
        multi_results = measure(
            {
                "bare": multi_bare(ctx),
                "pympx": multi_pympx(ctx),
                **{d: multi_persistent(ctx, d) for d in DURABILITIES},
            },
            root,
            target_s,
            repeats,
        )
        print("group commit:", file=sys.stderr)
        group_results = measure(
            {
                "1 thread": threaded_puts(ctx, 1),
                "8 threads": threaded_puts(ctx, GROUP_THREADS),
                "raw 1 thread": raw_syncs,
                "raw 8 threads": simplest_group_commit(GROUP_THREADS),
            },
            root,
            target_s,
            repeats,
        )
    finally:
        shutil.rmtree(root)

    single, multi = "1 process", f"1 producer + {CONSUMERS} consumers"
    bare = "bare"
    s_bare, s_sqlite, p_bare = (
        single_results["bare"],
        single_results["sqlite"],
        multi_results["bare"],
    )
    g_one, g_many = group_results["1 thread"], group_results["8 threads"]
    raw_one, raw_many = group_results["raw 1 thread"], group_results["raw 8 threads"]
    rows = [
        Row("bare JoinableQueue", single, s_bare, s_bare, bare),
        Row("PyMPX pattern (write+flush)", single, single_results["pympx"], s_bare, bare),
        Row("SQLiteAckQueue (put/get/ack)", single, s_sqlite, s_bare, bare),
        Row("PersistentQueue none", single, single_results["none"], s_bare, bare),
        Row("PersistentQueue flush", single, single_results["flush"], s_bare, bare),
        Row(
            "PersistentQueue fsync",
            single,
            single_results["fsync"],
            s_bare,
            bare,
            "≥ 2x SQLiteAckQueue",
            2.0,
            s_sqlite,
        ),
        Row("bare JoinableQueue", multi, p_bare, p_bare, bare),
        Row("PyMPX pattern (write+flush)", multi, multi_results["pympx"], p_bare, bare),
        Row("SQLiteAckQueue (put/get/ack)", multi, None, None, bare),
        Row("PersistentQueue none", multi, multi_results["none"], p_bare, bare),
        Row(
            "PersistentQueue flush",
            multi,
            multi_results["flush"],
            p_bare,
            bare,
            "≥ 0.8x bare",
            0.8,
            p_bare,
        ),
        Row("PersistentQueue fsync", multi, multi_results["fsync"], p_bare, bare),
        Row("PersistentQueue fsync, 1 thread", "put only, 1 process", g_one, g_one, "1 thread"),
        Row(
            f"PersistentQueue fsync, {GROUP_THREADS} threads",
            "put only, 1 process",
            g_many,
            g_one,
            "1 thread",
            "≥ 4x 1 thread",
            4.0,
            g_one,
        ),
        Row("bound: pwrite + fdatasync, 1 thread", "no queue, no codec", raw_one, raw_one, "raw"),
        Row(
            f"bound: simplest group commit, {GROUP_THREADS} threads",
            "no queue, no codec",
            raw_many,
            raw_one,
            "raw",
        ),
    ]
    print(table(rows))
    print()
    print(
        f"Median of {repeats} run(s) per row, the rows of a workload run in turn each round "
        "and a ratio is the median of the per-round ratios; "
        f"N sized for ~{target_s:g} s per run; "
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, start method fork; "
        f"journals under {root} ({'same' if same_disk else 'NOT the same'} filesystem "
        "as the repository). SQLiteAckQueue is persist-queue's (WAL, synchronous=FULL, "
        "auto_commit) and single-process only. The group-commit rows time put() only "
        "(1 fsync per record with 1 thread); the queue is drained afterwards, untimed. "
        "The two bound rows measure what Python threads on this machine reach at best "
        "when they share syncs: no queue, no codec, one flusher thread syncing batch "
        "after batch; each record's thread must still wake and take the GIL."
    )


if __name__ == "__main__":
    main()
