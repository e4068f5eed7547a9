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
from multiprocessing.context import BaseContext

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
from pq_messages import MESSAGES
from pq_trials import (
    CONSUMERS,
    multi_bare,
    multi_persistent,
    multi_pympx,
    single_bare,
    single_persistent,
    single_pympx,
    single_sqlite_ack,
)

from persistq.durability import DURABILITIES

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


# -- the flush goal --------------------------------------------------------------------


def flush_trials(ctx: BaseContext) -> dict[str, Trial]:
    """For each kind of message, the bare queue and ``durability="flush"``, 1 producer +
    2 consumers, named ``"bare <kind>"`` and ``"flush <kind>"``: the trials of
    :func:`flush_table`."""
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
    parser.add_argument(
        "--flush-only", action="store_true", help="only the flush goal's rows (plain, escaped)"
    )
    parser.add_argument("--rounds", type=int, default=None, help=f"rounds (default {ROUNDS})")
    parser.add_argument(
        "--seconds", type=float, default=None, help="target seconds a trial (default 2)"
    )
    args = parser.parse_args(argv)
    target_s, rounds = (0.3, 1) if args.quick else (2.0, ROUNDS)
    target_s = target_s if args.seconds is None else args.seconds
    rounds = rounds if args.rounds is None else args.rounds
    ctx = multiprocessing.get_context("fork")
    started = os.getloadavg()
    root = tempfile.mkdtemp(prefix="pq_bench_", dir=args.dir)
    if args.flush_only:
        try:
            flush = measure(flush_trials(ctx), root, target_s, rounds)
        finally:
            shutil.rmtree(root, ignore_errors=True)
        print(flush_table(flush))
        print(
            f"\n`{command_line('pq_bench.py', argv)}`: {machine(root, started)}. {rounds} round(s)."
        )
        return
    single, multi, group = SINGLE, MULTI, GROUP
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
                    **flush_trials(ctx),
                    "pympx": multi_pympx(ctx),
                    **{d: multi_persistent(ctx, d) for d in DURABILITIES if d != "flush"},
                },
                root,
                target_s,
                rounds,
            ),
            group: measure(group_commit_trials(ctx), root, target_s, rounds),
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)
    flush = results[multi]
    flush["bare"], flush["flush"] = flush["bare plain"], flush["flush plain"]
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
