"""PersistentQueue throughput against its ceiling and its alternatives (issue 2, 11).

Run ``.venv/bin/python benchmarks/pq_bench.py`` (a few minutes on 2 cores) or add
``--quick`` for a smoke run. Prints Markdown tables of messages per second of put +
get + task_done, every row measured in this run on the same disk (see ``harness.py``
for how trials are sized, repeated and compared):

* bare ``multiprocessing.JoinableQueue`` (the ceiling);
* the PyMPX pattern: a JoinableQueue beside a plain text journal written with
  ``write()`` + ``flush()`` per put and per task_done;
* ``persistqueue.SQLiteAckQueue`` (put / get / ack; single process only);
* ``PersistentQueue`` at durability ``none``, ``flush`` and ``fsync``;

for one process (put N, then get + task_done N) and for 1 producer + 2 consumer
processes (timed until ``join()`` returns); the flush goal (1 producer + 2 consumers
iterating ``for msg in q: q.task_done(msg)``, plain and escaped messages, against the
bare queue carrying the same messages); and the group-commit rows
(``pq_group_commit.py``).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from multiprocessing.context import BaseContext
from multiprocessing.synchronize import Barrier
from typing import Any, TextIO

import persistqueue
from harness import (
    TRIAL_HEADER,
    Goal,
    Result,
    Trial,
    command_line,
    machine,
    markdown_table,
    measure,
    trial_cells,
)
from pq_group_commit import GROUP_THREADS, group_commit_trials
from pq_messages import MESSAGES, Message, plain

from persistq import PersistentQueue
from persistq.durability import DURABILITIES, Durability

CONSUMERS = 2
ROUNDS = 5
FLUSH_GOAL = Goal(0.8, "bare")
SINGLE, MULTI, GROUP = "1 process", f"1 producer + {CONSUMERS} consumers", "put only, 1 process"
GOALS = {
    (SINGLE, "fsync"): Goal(2, "sqlite"),
    (GROUP, f"{GROUP_THREADS} threads"): Goal(4, "1 thread"),
}
QUEUES = [
    ("bare JoinableQueue", "bare"),
    ("PyMPX pattern (write+flush)", "pympx"),
    ("SQLiteAckQueue (put/get/ack)", "sqlite"),
    *((f"PersistentQueue {d}", d) for d in DURABILITIES),
]


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


# -- the flush goal --------------------------------------------------------------------


def flush_trials(ctx: BaseContext) -> dict[str, Trial]:
    """For each kind of message, the bare queue and ``durability="flush"``, 1 producer +
    2 consumers: the trials of :func:`flush_table`."""
    trials: dict[str, Trial] = {}
    for kind, make in MESSAGES.items():
        trials[f"bare {kind}"] = multi_bare(ctx, make)
        trials[f"flush {kind}"] = multi_persistent(ctx, "flush", make)
    return trials


def flush_table(results: dict[str, Result]) -> str:
    """The flush goal: ``durability="flush"`` over the bare queue, per kind of message."""
    header = ["queue", "messages", *TRIAL_HEADER, "÷ bare (median of rounds)", "goal"]
    rows = []
    for kind, make in MESSAGES.items():
        bare, flush = results[f"bare {kind}"], results[f"flush {kind}"]
        ratio = flush.ratio_to(bare)
        example = repr(make(1))
        rows.append(["bare `JoinableQueue`", f"{kind} ({example})", *trial_cells(bare), "1", ""])
        rows.append(
            [
                '`PersistentQueue`, `durability="flush"`',
                f"{kind} ({example})",
                *trial_cells(flush),
                f"{ratio:.2f}",
                FLUSH_GOAL.cell(ratio),
            ]
        )
    return markdown_table(header, rows, "ll" + "r" * 6 + "l")


def ratio_table(
    rows: list[tuple[str, str, str, str]], results: dict[str, dict[str, Result]]
) -> str:
    """Rows (queue label, workload, trial name, baseline trial name) with the ratio to the
    baseline's trial of the same workload, and the row's goal if it has one."""
    header = ["queue", "workload", *TRIAL_HEADER, "ratio (median of rounds)", "goal"]
    lines = []
    for label, workload, name, baseline in rows:
        result, base = results[workload][name], results[workload][baseline]
        ratio = result.ratio_to(base)
        goal = GOALS.get((workload, name))
        lines.append(
            [
                label,
                workload,
                *trial_cells(result),
                f"{ratio:.2f}x {baseline}",
                goal.cell(result.ratio_to(results[workload][goal.baseline])) if goal else "",
            ]
        )
    return markdown_table(header, lines, "ll" + "r" * 6 + "l")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--dir", default=None, help="parent of the temporary directories")
    args = parser.parse_args(argv)
    target_s, rounds = (0.3, 1) if args.quick else (2.0, ROUNDS)
    ctx = multiprocessing.get_context("fork")
    single, multi, group = SINGLE, MULTI, GROUP
    started = os.getloadavg()
    root = tempfile.mkdtemp(prefix="pq_bench_", dir=args.dir)
    try:
        results = {
            single: measure(
                {
                    "bare": single_bare(ctx),
                    "pympx": single_pympx(ctx),
                    "sqlite": single_sqlite_ack,
                    **{d: single_persistent(ctx, d) for d in DURABILITIES},
                },
                root,
                target_s,
                rounds,
            ),
            multi: measure(
                {
                    "bare": multi_bare(ctx),
                    "pympx": multi_pympx(ctx),
                    **{d: multi_persistent(ctx, d) for d in DURABILITIES},
                },
                root,
                target_s,
                rounds,
            ),
            group: measure(group_commit_trials(ctx), root, target_s, rounds),
        }
        flush = measure(flush_trials(ctx), root, target_s, rounds)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    many = f"{GROUP_THREADS} threads"
    rows = [
        *((label, single, name, "bare") for label, name in QUEUES if name in results[single]),
        *((label, multi, name, "bare") for label, name in QUEUES if name in results[multi]),
        ("PersistentQueue fsync, 1 thread", group, "1 thread", "1 thread"),
        (f"PersistentQueue fsync, {many}", group, many, "1 thread"),
        ("bound: pwrite + fdatasync, 1 thread", group, "raw 1 thread", "raw 1 thread"),
        (f"bound: simplest group commit, {many}", group, f"raw {many}", "raw 1 thread"),
    ]
    print(ratio_table(rows, results))
    print()
    print(flush_table(flush))
    print(
        f"\n`{command_line('pq_bench.py', argv)}`: {machine(root, started)}. {rounds} round(s), "
        f"N sized for ≥ ~{target_s:g} s a trial, start method fork."
    )


if __name__ == "__main__":
    main()
