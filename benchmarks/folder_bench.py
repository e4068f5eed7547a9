"""Folder queues against ``dirq.QueueSimple``, drain cost as the folder grows, and
pickup latency (issues 3, 11).

Run ``.venv/bin/python benchmarks/folder_bench.py`` (``--quick`` for a smoke run,
``--drain-100k`` to add the 10k- against 100k-file drain). Prints Markdown tables, every
row measured in this run on the same disk through ``harness.py``.

The workload, the same for both queues and the one ``compare.py`` reports: a message is a
file of :data:`PAYLOAD` (92 bytes). A producer writes each message (the folder queue's
into a staging folder, then ``put``; dirq's ``add`` writes it); a consumer claims it,
reads it and finishes it (folder: ``for wip in reader`` + ``task_done``, which deletes
it; dirq: ``lock`` + ``get`` + ``remove``). Layouts: a full queue drained by 1 and by 2
consumer processes, and 1 producer + 2 consumer processes. Each row runs both queues
with the same N, sized so that each trial lasts at least ``target_s``.

Durability is the same for both: none fsyncs. dirq's ``QueueSimple`` never calls
``fsync`` (it writes a temporary file, then links it into place; ``lock`` is a hard link,
``remove`` two unlinks); the folder queue runs at its default ``durability="flush"``
(renames only, no fsync). Both survive a killed process, not a power loss.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from multiprocessing.process import BaseProcess
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Barrier, Event

import attrs
from dirq.QueueSimple import QueueSimple
from folder_latency import latency_table, measure_latencies
from harness import (
    TRIAL_HEADER,
    Goal,
    Result,
    Trial,
    command_line,
    load_text,
    machine,
    markdown_table,
    measure,
    trial_cells,
)

from persistq import ReadableFolderQueue, WritableFolderQueue

CTX = multiprocessing.get_context("fork")
PAYLOAD = b"2024-01-01\tEAST\t1234.5\n" * 4
VERSUS_GOAL = Goal(2, "dirq")
DRAIN_SIZES = (10_000, 100_000)


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


# -- the reports ----------------------------------------------------------------------


def measure_versus(root: str, target_s: float, rounds: int) -> dict[str, dict[str, Result]]:
    """Each layout's results of both queues, with one N per layout."""
    results = {}
    for layout in LAYOUTS:
        print(f"{layout.label}:", file=sys.stderr)
        trials = {"folder": folder_trial(layout), "dirq": dirq_trial(layout)}
        results[layout.label] = measure(trials, root, target_s, rounds, same_n=True)
    return results


def versus_table(results: dict[str, dict[str, Result]]) -> str:
    """Folder queue and dirq per layout, the ratio and the goal."""
    header = ["layout", "queue", *TRIAL_HEADER, "÷ dirq (median of rounds)", "goal"]
    rows = []
    for label, pair in results.items():
        ratio = pair["folder"].ratio_to(pair["dirq"])
        rows.append(
            [
                label,
                "persistq folder queue",
                *trial_cells(pair["folder"]),
                f"{ratio:.2f}",
                VERSUS_GOAL.cell(ratio),
            ]
        )
        rows.append([label, "dirq `QueueSimple`", *trial_cells(pair["dirq"]), "1", ""])
    return markdown_table(header, rows, "ll" + "r" * 6 + "l")


def measure_drains(root: str, sizes: Sequence[int], rounds: int) -> dict[int, Result]:
    """The folder queue's "drain, 1 consumer" row at each of ``sizes`` files."""
    trial = folder_trial(LAYOUTS[0])
    print("drain sizes:", file=sys.stderr)
    by_name = measure(
        {str(size): trial for size in sizes}, root, 0, rounds, sizes={str(s): s for s in sizes}
    )
    return {int(name): result for name, result in by_name.items()}


def drain_table(results: dict[int, Result]) -> str:
    """µs per file of each drain, its ratio to the smallest drain's, and the goal: no
    drain costs more per file than the smallest (strictly: noise can miss it)."""
    smallest = min(results)
    base = 1e6 / results[smallest].rate
    drain_goal = Goal(1, f"the {smallest:,}-file drain's files/s")
    header = ["files", "seconds", "µs per file", f"÷ {smallest:,} files", "load", "goal"]
    rows = []
    for size, result in sorted(results.items()):
        per_file = 1e6 / result.rate
        goal = "" if size == smallest else drain_goal.cell(base / per_file)
        cells = [f"{size:,}", f"{size / result.rate:.2f}", f"{per_file:.0f}"]
        rows.append([*cells, f"{per_file / base:.2f}", load_text(result.loads), goal])
    return markdown_table(header, rows, "rrrrrl")


def main(argv: list[str] | None = None) -> None:
    """Run the folder benchmarks and print their Markdown tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--drain-100k", action="store_true", help="add the 10k vs 100k drain")
    parser.add_argument("--dir", default=None, help="parent of the temporary directories")
    args = parser.parse_args(argv)
    target_s, rounds, samples = (0.3, 1, 40) if args.quick else (2.0, 3, 300)
    started = os.getloadavg()
    root = tempfile.mkdtemp(prefix="folder_bench_", dir=args.dir)
    try:
        versus = measure_versus(root, target_s, rounds)
        drains = measure_drains(root, DRAIN_SIZES, rounds) if args.drain_100k else None
        latencies = measure_latencies(samples, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"`{command_line('folder_bench.py', argv)}`: {machine(root, started)}.\n")
    print(versus_table(versus), end="\n\n")
    if drains is not None:
        print(drain_table(drains), end="\n\n")
    print(latency_table(latencies))


if __name__ == "__main__":
    main()
