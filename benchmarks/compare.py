"""persistq against its peers: throughput, the goals of issue 11, recovery and pickup
latency, written to ``docs/benchmarks.md`` (issues 6, 11).

Run ``.venv/bin/python benchmarks/compare.py`` (needs the ``bench`` extra; add
``--drain-100k`` for the 10k- against 100k-file drain) to measure, in one run and on one
disk, through ``harness.py``:

* put + get + ack (or task_done) of short strings in one process, and with 1 producer
  + 2 consumer processes, for ``multiprocessing.JoinableQueue`` (the in-memory
  ceiling), ``PersistentQueue`` at each durability, persist-queue's ``SQLiteAckQueue``
  and file ``Queue`` and queuelib's ``FifoDiskQueue`` (``pq_bench.py``'s trials);
* the flush goal (``pq_bench.flush_trials``);
* folder queues against dirq (``folder_bench.py``'s workload and table);
* ``PersistentQueue`` recovery (``compare_recovery.py``);
* folder-queue pickup latency (``folder_latency.py``).

It prints the Markdown report and writes it to ``docs/benchmarks.md`` with the plot
``docs/img/benchmarks.png``. ``--quick`` is a smoke run that prints the report and
writes files only when ``--output`` is given.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import sys
import tempfile
import time

import attrs
import persistqueue
from compare_page import (
    DRAIN_TEXT,
    FLUSH_TEXT,
    LATENCY_TEXT,
    RECOVERY_TEXT,
    THROUGHPUT_TEXT,
    VERSUS_TEXT,
    goals_table,
    report,
)
from compare_plot import CEILING, plot
from compare_recovery import RECOVERY_GOAL_LINES, measure_recovery, recovery_table
from folder_bench import (
    DRAIN_SIZES,
    drain_table,
    measure_drains,
    measure_versus,
    versus_table,
)
from folder_latency import latency_table, measure_latencies
from harness import Result, Trial, command_line, load_text, machine, markdown_table, measure
from pq_bench import flush_table, flush_trials
from pq_messages import plain
from pq_trials import (
    CONSUMERS,
    multi_persistent,
    single_bare,
    single_persistent,
    single_sqlite_ack,
)
from queuelib import FifoDiskQueue

from persistq.durability import DURABILITIES

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def single_file_queue(directory: str, n: int) -> float:
    """persist-queue's file ``Queue``: put N, then get + task_done N."""
    q = persistqueue.Queue(os.path.join(directory, "q"), tempdir=directory)
    start = time.perf_counter()
    for i in range(n):
        q.put(plain(i))
    for _ in range(n):
        q.get()
        q.task_done()
    return time.perf_counter() - start


def single_queuelib(directory: str, n: int) -> float:
    """queuelib's ``FifoDiskQueue``: push N, pop N, close (which saves its state)."""
    q = FifoDiskQueue(os.path.join(directory, "q"))
    start = time.perf_counter()
    for i in range(n):
        q.push(plain(i).encode())
    for _ in range(n):
        q.pop()
    q.close()
    return time.perf_counter() - start


@attrs.frozen
class Peer:
    """A row of the throughput table: its trials' names (None: cannot run it, and why)."""

    label: str
    survives: str
    single: str
    multi: str | None
    why_not_multi: str = ""


NOT_PROCESS_SAFE = "n/a: thread-safe, not process-safe"
SURVIVES = {
    "none": "nothing promised (today as flush: records are in the OS at once)",
    "flush": "a killed process",
    "fsync": "power loss",
}
PEERS = (
    Peer("`multiprocessing.JoinableQueue` (ceiling)", "nothing", CEILING, CEILING),
    *(
        Peer(f'persistq `PersistentQueue`, `durability="{d}"`', SURVIVES[d], d, d)
        for d in DURABILITIES
    ),
    Peer(
        "persist-queue `SQLiteAckQueue` (put/get/ack)",
        "power loss (SQLite WAL, default synchronous=FULL)",
        "sqlite",
        None,
        NOT_PROCESS_SAFE,
    ),
    Peer(
        "persist-queue file `Queue` (put/get/task_done)",
        "a killed process (fsync every `chunksize` puts)",
        "pq-file",
        None,
        NOT_PROCESS_SAFE,
    ),
    Peer(
        "queuelib `FifoDiskQueue` (push/pop, no ack)",
        "nothing until `close()`, which saves its positions",
        "queuelib",
        None,
        "n/a: one process owns the queue's state",
    ),
)


def throughput_table(single: dict[str, Result], multi: dict[str, Result]) -> str:
    """msgs/s and ÷ ceiling of each peer, in one process and 1 producer + 2 consumers."""
    header = [
        "queue",
        "survives",
        "1 process: msgs/s",
        "÷ ceiling",
        f"1 producer + {CONSUMERS} consumers: msgs/s",
        "÷ ceiling",
        "load",
    ]
    rows = []
    for peer in PEERS:
        one = single[peer.single]
        cells = [
            peer.label,
            peer.survives,
            f"{one.rate:,.0f}",
            f"{one.ratio_to(single[CEILING]):.3f}",
        ]
        loads = one.loads
        if peer.multi is None:
            cells += [peer.why_not_multi, ""]
        else:
            many = multi[peer.multi]
            cells += [f"{many.rate:,.0f}", f"{many.ratio_to(multi[CEILING]):.3f}"]
            loads += many.loads
        rows.append([*cells, load_text(loads)])
    return markdown_table(header, rows, "llrrrrr")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--drain-100k", action="store_true", help="add the 10k vs 100k drain")
    parser.add_argument("--dir", default=None, help="where to create the queues")
    parser.add_argument(
        "--output",
        default=None,
        help="directory for benchmarks.md and img/benchmarks.png "
        "(default: docs/, or nothing with --quick)",
    )
    args = parser.parse_args(argv)
    output = args.output if args.output or args.quick else os.path.join(REPO, "docs")
    target_s, rounds = (0.3, 1) if args.quick else (2.0, 5)
    folder_rounds = 1 if args.quick else 3
    sizes = [10_000, 100_000] if args.quick else [10_000, 100_000, RECOVERY_GOAL_LINES]
    drain_sizes = (1_000, 10_000) if args.quick else DRAIN_SIZES
    samples = 40 if args.quick else 300
    ctx = multiprocessing.get_context("fork")
    started = os.getloadavg()
    root = tempfile.mkdtemp(prefix="compare_", dir=args.dir)
    tempfile.tempdir = root  # every helper's temporary directory on the same disk
    try:
        print("1 process:", file=sys.stderr)
        single_trials: dict[str, Trial] = {
            CEILING: single_bare(ctx),
            **{d: single_persistent(ctx, d) for d in DURABILITIES},
            "sqlite": single_sqlite_ack,
            "pq-file": single_file_queue,
            "queuelib": single_queuelib,
        }
        single = measure(single_trials, root, target_s, rounds)
        print(f"1 producer + {CONSUMERS} consumers, and the flush goal:", file=sys.stderr)
        multi_trials: dict[str, Trial] = {
            **flush_trials(ctx),
            **{d: multi_persistent(ctx, d) for d in DURABILITIES if d != "flush"},
        }
        flush = measure(multi_trials, root, target_s, rounds)
        multi: dict[str, Result] = {
            CEILING: flush["bare plain"],
            "flush": flush["flush plain"],
            **{d: flush[d] for d in DURABILITIES if d != "flush"},
        }
        versus = measure_versus(root, target_s, folder_rounds)
        drains = (
            measure_drains(root, drain_sizes, folder_rounds)
            if args.drain_100k or args.quick
            else None
        )
        recoveries = measure_recovery(root, sizes, rounds)
        latencies = measure_latencies(samples, root)
    finally:
        tempfile.tempdir = None
        shutil.rmtree(root, ignore_errors=True)
    where = machine(root, started)
    settings = (
        f"Throughput and flush goal: {rounds} round(s), N sized for ≥ ~{target_s:g} s a trial; "
        f"folder queues against dirq: {folder_rounds} round(s); recovery: {rounds} round(s); "
        f"latency: {samples} pickups with events, fewer polling; start method fork."
    )
    sections = {
        "Goals of issue 11": goals_table(flush, versus, drains),
        "Throughput": THROUGHPUT_TEXT + "\n\n" + throughput_table(single, multi),
        "Goal: flush against the bare queue": FLUSH_TEXT + "\n\n" + flush_table(flush),
        "Folder queues against dirq": VERSUS_TEXT + "\n\n" + versus_table(versus),
    }
    if drains is not None:
        sections["Folder queue drain as the folder grows"] = (
            DRAIN_TEXT + "\n\n" + drain_table(drains)
        )
    sections["Recovery"] = RECOVERY_TEXT + "\n\n" + recovery_table(recoveries)
    sections["Folder queue pickup latency"] = LATENCY_TEXT + "\n\n" + latency_table(latencies)
    if output is not None:
        os.makedirs(os.path.join(output, "img"), exist_ok=True)
        plot(single, multi, latencies, os.path.join(output, "img", "benchmarks.png"))
        sections["Folder queue pickup latency"] += (
            "\n\n![Throughput by durability and pickup latency](img/benchmarks.png)"
        )
    text = report(command_line("compare.py", argv), where, settings, sections)
    print(text)
    if output is not None:
        with open(os.path.join(output, "benchmarks.md"), "w", encoding="utf-8") as f:
            f.write(text)
        print(f"wrote {output}/benchmarks.md and {output}/img/benchmarks.png", file=sys.stderr)


if __name__ == "__main__":
    main()
