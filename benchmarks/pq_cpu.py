"""CPU time per message of the flush goal's workload, which a loaded machine disturbs
far less than throughput: ``.venv/bin/python benchmarks/pq_cpu.py [--n N] [--rounds R]``.

For the bare ``JoinableQueue`` and ``PersistentQueue(durability="flush")``, 1 producer
(this process) + 2 consumer processes, plain and escaped messages (``pq_messages``),
prints the medians over the rounds of the CPU microseconds per message of the
producer's main thread (``put``), of its other threads (the queue's feeder: pickling
and writing to the pipe) and of the consumers together, then the ratio of the totals
(bare ÷ flush: what the throughput ratio tends to when the CPUs are the limit).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import shutil
import statistics
import tempfile
import time

from harness import Trial, command_line, markdown_table
from pq_messages import MESSAGES
from pq_trials import multi_bare, multi_persistent


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cpu_per_message(trial: Trial, n: int) -> tuple[float, float, float]:
    """Microseconds of CPU per message: producer main thread, producer's other
    threads, consumers (the trial's consumer processes are its only children)."""
    directory = tempfile.mkdtemp(prefix="pq_cpu_")
    try:
        main, process, children = time.thread_time(), time.process_time(), _children_cpu()
        trial(directory, n)
        main = time.thread_time() - main
        process = time.process_time() - process
        children = _children_cpu() - children
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return main / n * 1e6, (process - main) / n * 1e6, children / n * 1e6


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--n", type=int, default=100_000, help="messages per trial")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (median reported)")
    args = parser.parse_args(argv)
    ctx = multiprocessing.get_context("fork")
    rows = []
    for kind, make in MESSAGES.items():
        totals = {}
        for name, trial in (
            ("bare", multi_bare(ctx, make)),
            ("flush", multi_persistent(ctx, "flush", make)),
        ):
            samples = [cpu_per_message(trial, args.n) for _ in range(args.rounds)]
            cells = [statistics.median(s[i] for s in samples) for i in range(3)]
            totals[name] = sum(cells)
            rows.append([name, kind, *(f"{c:.2f}" for c in cells), f"{totals[name]:.2f}", ""])
        rows[-1][-1] = f"{totals['bare'] / totals['flush']:.2f}"
    header = ["queue", "messages", "put thread", "feeder", "consumers", "total", "bare ÷ flush"]
    print(markdown_table(header, rows, "ll" + "r" * 5))
    print(
        f"\nCPU µs per message, median of {args.rounds} rounds of {args.n:,} messages; "
        f"`{command_line('pq_cpu.py', argv)}`, load average "
        f"{'/'.join(f'{x:.1f}' for x in os.getloadavg())} at the end."
    )


if __name__ == "__main__":
    main()
